import { useEffect, useState } from 'react';
import type { EventPayload } from '../../../shared/contract';
import { client } from '../client';

/** Progress of running jobs (indexing, batch runs) with a cancel button. */
export function JobBar() {
  const [jobs, setJobs] = useState<Record<string, EventPayload<'job.progress'>>>({});

  useEffect(() => {
    const offs = [
      client.on('job.progress', (p) => setJobs((j) => ({ ...j, [p.jobId]: p }))),
      client.on('job.finished', (job) =>
        setJobs((j) => {
          const { [job.id]: _, ...rest } = j;
          return rest;
        }),
      ),
    ];
    return () => offs.forEach((off) => off());
  }, []);

  const list = Object.values(jobs);
  if (!list.length) return null;
  return (
    <div className="jobs">
      {list.map((p) => (
        <div className="job" key={p.jobId} role="status">
          <span>
            {p.kind} {p.done}/{p.total}
          </span>
          <progress max={p.total || 1} value={p.done} />
          <span className="job-message">{p.message}</span>
          <button onClick={() => client.call('jobs.cancel', { id: p.jobId })}>Cancel</button>
        </div>
      ))}
    </div>
  );
}
