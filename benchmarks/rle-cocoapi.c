/*
 * Peer for `npm run bench -- rle`: times the COCO RLE codec of pycocotools' C core, maskApi.c from
 * github.com/cocodataset/cocoapi (common/maskApi.c). maskApi.c is NOT part of this repository: the benchmark
 * compiles this file together with a copy found through COCOAPI_DIR (default: ../cocoapi beside the
 * repository), and skips the peer when there is none.
 *
 * Usage: rle-cocoapi MS FILE   FILE holds uint32 h, uint32 w, then the mask's h*w bytes in column-major order
 * (what pycocotools.mask.encode takes). It prints one JSON line with operations per CPU-second of rleEncode,
 * rleDecode, rleToString and rleFrString, each over one round of at least MS ms of CPU time after a warm-up
 * call, plus the run count and string length to check that both sides did the same work. The benchmark runs it
 * between its own rounds, so that both sides see the same load on a shared machine.
 */
#define _POSIX_C_SOURCE 199309L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "maskApi.h"

/* CPU time of this process in ms, as benchmarks/rle.ts measures ours. */
static double cpu_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

/* What each timed call hands back, so the compiler cannot drop the work. */
static volatile unsigned long sink;

enum op { ENCODE, DECODE, TO_STRING, FR_STRING };
static const char *names[] = { "encode", "decode", "toCompressedString", "fromCompressedString" };

static const byte *mask;
static siz H, W;
static RLE rle;
static char *str;

static void once(enum op o) {
  RLE r;
  char *s;
  byte *m;
  switch (o) {
  case ENCODE:
    rleEncode(&r, mask, H, W, 1);
    sink += r.m;
    rleFree(&r);
    break;
  case DECODE:
    /* A fresh zeroed mask per call, as pycocotools.mask.decode allocates with np.zeros and our decode returns. */
    m = calloc(H * W, 1);
    rleDecode(&rle, m, 1);
    sink += m[H * W / 2];
    free(m);
    break;
  case TO_STRING:
    s = rleToString(&rle);
    sink += (unsigned char)s[0];
    free(s);
    break;
  case FR_STRING:
    rleFrString(&r, str, H, W);
    sink += r.m;
    rleFree(&r);
    break;
  }
}

/* Calls run in batches that grow until reading the clock costs nothing next to them, as in benchmarks/rle.ts. */
static double rate(enum op o, double ms) {
  long n = 0, batch = 1;
  once(o);
  double t0 = cpu_ms(), t = t0;
  while (t - t0 < ms) {
    for (long i = 0; i < batch; i++) once(o);
    n += batch;
    double t1 = cpu_ms();
    if (t1 - t < 1) batch *= 2;
    t = t1;
  }
  return n * 1000.0 / (t - t0);
}

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: %s MS FILE\n", argv[0]);
    return 2;
  }
  double ms = atof(argv[1]);
  FILE *f = fopen(argv[2], "rb");
  unsigned int hw[2];
  if (!f || fread(hw, sizeof hw, 1, f) != 1) {
    fprintf(stderr, "cannot read %s\n", argv[2]);
    return 1;
  }
  H = hw[0];
  W = hw[1];
  byte *m = malloc(H * W);
  if (fread(m, 1, H * W, f) != H * W) {
    fprintf(stderr, "%s is shorter than %lux%lu\n", argv[2], H, W);
    return 1;
  }
  fclose(f);
  mask = m;
  rleEncode(&rle, mask, H, W, 1);
  str = rleToString(&rle);
  printf("{\"runs\":%lu,\"compressedChars\":%lu", rle.m, (unsigned long)strlen(str));
  for (int o = ENCODE; o <= FR_STRING; o++) printf(",\"%s\":%.1f", names[o], rate((enum op)o, ms));
  printf("}\n");
  free(str);
  rleFree(&rle);
  free(m);
  return 0;
}
