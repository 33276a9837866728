// The tools that prompt a pipeline, one file each, by the prompt kind they make (points now; text, an example, a box
// later). A pipeline that previews a kind of prompt gets its tool in the toolbar; tools.ts adds their shortcuts.
import type { PipelineInfo, PromptKind } from '../../../../shared/contract';
import { POINTS_TOOL } from './points';

export interface PromptTool {
  kind: PromptKind;
  /** The tool's id in the toolbar, its shortcut key and help line. */
  id: string;
  label: string;
  key: string;
  hint: string;
}

export const PROMPT_TOOLS = [POINTS_TOOL] as const satisfies readonly PromptTool[];

/** The prompt tool a pipeline's preview takes, if the app has one for its kind. */
export function promptToolOf(p: PipelineInfo | null): (typeof PROMPT_TOOLS)[number] | undefined {
  return p?.preview ? PROMPT_TOOLS.find((t) => t.kind === p.prompt) : undefined;
}
