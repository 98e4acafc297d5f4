/* Classifies 8x8 digit images with the ahead-of-time bundle of
 * examples/digits_mlp.cj: plain C, linked with the bundle, OpenBLAS and libm
 * alone (docs/deploy.md, "Ahead-of-time bundles").
 *
 *   chainjit train examples/digits_mlp.cj --data examples/data/digits.csv.gz \
 *       --scale 0.0625 --epochs 10 --checkpoint digits.ckpt
 *   chainjit compile examples/digits_mlp.cj --aot -o bundle --params digits.ckpt \
 *       --outputs predicted,logits
 *   cc -O2 -I bundle examples/aot/classify_digits.c bundle/libdigits_mlp.a \
 *       -lopenblas -lm -o classify_digits
 *   ./classify_digits images.csv
 *
 * images.csv: one image per line, 64 comma-separated pixel values 0..16 (a
 * 65th field, the label, is ignored; lines starting with '#' or a letter are
 * skipped). Prints "class,p0,...,p9" per image: the predicted class and the
 * softmax of the logits, as `chainjit predict` does. The features are
 * prepared as the weights' training prepared them (the header says how).
 */
#include "digits_mlp.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum {
  BATCH = DIGITS_MLP_PREDICTED_ELEMENTS, /* the bundle's batch size */
  FEATURES = DIGITS_MLP_X_ELEMENTS / BATCH,
  CLASSES = DIGITS_MLP_LOGITS_ELEMENTS / BATCH,
};

/* The data preparation the weights were trained with, from the header. */
#if defined(DIGITS_MLP_DATA_MEAN) /* train --standardize */
static const double data_mean[] = DIGITS_MLP_DATA_MEAN, data_std[] = DIGITS_MLP_DATA_STD;
#define PREPARE(v, j) (((v) - data_mean[j]) / data_std[j])
#elif defined(DIGITS_MLP_DATA_SCALE) /* train --scale */
#define PREPARE(v, j) ((v) * DIGITS_MLP_DATA_SCALE)
#else
#define PREPARE(v, j) (v)
#endif

/* Reads one image into row; 1 on success, 0 at the end, -1 on a bad line. */
static int read_image(FILE *in, float *row, long *line) {
  char text[4096];
  while (fgets(text, sizeof text, in)) {
    ++*line;
    if (text[0] == '#' || (text[0] >= 'a' && text[0] <= 'z') || text[0] == '\n')
      continue;
    char *p = text;
    for (int j = 0; j < FEATURES; ++j) {
      char *end;
      double v = strtod(p, &end);
      if (end == p)
        return -1;
      row[j] = (float)PREPARE(v, j);
      p = *end == ',' ? end + 1 : end;
    }
    return 1;
  }
  return 0;
}

static void print_row(int predicted, const float *logits) {
  double m = logits[0], sum = 0, p[CLASSES];
  for (int k = 1; k < CLASSES; ++k)
    if (logits[k] > m)
      m = logits[k];
  for (int k = 0; k < CLASSES; ++k)
    sum += p[k] = exp(logits[k] - m);
  printf("%d", predicted);
  for (int k = 0; k < CLASSES; ++k)
    printf(",%.9g", p[k] / sum);
  printf("\n");
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: %s IMAGES.csv\n", argv[0]);
    return 2;
  }
  char err[512];
  if (digits_mlp_check(err, sizeof err) != DIGITS_MLP_OK) {
    fprintf(stderr, "classify_digits: %s\n", err);
    return 1;
  }
  FILE *in = fopen(argv[1], "r");
  if (!in) {
    perror(argv[1]);
    return 1;
  }
  static float x[BATCH * FEATURES], logits[BATCH * CLASSES];
  static int32_t predicted[BATCH];
  long line = 0;
  int status = 0, done = 0;
  printf("class");
  for (int k = 0; k < CLASSES; ++k)
    printf(",p%d", k);
  printf("\n");
  while (!done) {
    int rows = 0;
    memset(x, 0, sizeof x); /* a last, partial batch is padded with zeros */
    while (rows < BATCH) {
      int got = read_image(in, x + rows * FEATURES, &line);
      if (got < 0) {
        fprintf(stderr, "%s:%ld: expected %d numbers\n", argv[1], line, FEATURES);
        fclose(in);
        return 1;
      }
      if (got == 0) {
        done = 1;
        break;
      }
      ++rows;
    }
    if (rows == 0)
      break;
    status = digits_mlp_run(x, predicted, logits, NULL, err, sizeof err);
    if (status != DIGITS_MLP_OK) {
      fprintf(stderr, "classify_digits: %s\n", err);
      break;
    }
    for (int r = 0; r < rows; ++r)
      print_row(predicted[r], logits + r * CLASSES);
  }
  fclose(in);
  return status == DIGITS_MLP_OK ? 0 : 1;
}
