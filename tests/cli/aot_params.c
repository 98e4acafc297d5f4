/* A bundle compiled without --params takes the params as arguments: affine.cj
 * (y = x * w + b, s = row sums of y) with w passed by the caller, and its
 * own workspace (or none, when the graph needs none). aot_bundle.sh. */
#include "affine.h"

#include <stdio.h>

int main(void) {
  const float x[AFFINE_X_ELEMENTS] = {1, 2, 3, 4, 5, 6};
  const float b[AFFINE_B_ELEMENTS] = {0.5f, 0, -1};
  const float w[AFFINE_W_ELEMENTS] = {1, 10, 100};
  float y[AFFINE_Y_ELEMENTS], s[AFFINE_S_ELEMENTS];
  char err[256];
  if (affine_run(x, b, w, y, s, NULL, err, sizeof err) != AFFINE_OK) {
    fprintf(stderr, "%s\n", err);
    return 1;
  }
  for (int i = 0; i < AFFINE_Y_ELEMENTS; ++i)
    printf("%g%c", y[i], i + 1 < AFFINE_Y_ELEMENTS ? ' ' : '\n');
  printf("%g %g\n", s[0], s[1]);
  return 0;
}
