/* Run-time errors of a bundle come back as a status and a message, never an
 * abort: a label out of range, a NULL buffer, a misaligned workspace. The
 * bundle is examples/digits_mlp.cj compiled with --outputs loss --name
 * digits_loss --batch 4 (aot_bundle.sh). Prints one line per case. */
#include "digits_loss.h"

#include <stdalign.h>
#include <stdio.h>

int main(void) {
  static float x[DIGITS_LOSS_X_ELEMENTS];
  int32_t labels[DIGITS_LOSS_LABELS_ELEMENTS] = {0, 1, 2, 3};
  float loss[1];
  static alignas(64) unsigned char workspace[DIGITS_LOSS_WORKSPACE_BYTES + 64];
  char err[256];
  int32_t s = digits_loss_run(x, labels, loss, NULL, err, sizeof err);
  printf("good labels: %d %s\n", s, s ? err : "");
  s = digits_loss_run(x, labels, loss, workspace, err, sizeof err);
  printf("own workspace: %d %s\n", s, s ? err : "");
  labels[2] = 12;
  s = digits_loss_run(x, labels, loss, NULL, err, sizeof err);
  printf("label 12: %d %s\n", s, err);
  s = digits_loss_run(x, NULL, loss, NULL, err, sizeof err);
  printf("no labels: %d %s\n", s, err);
  s = digits_loss_run(x, labels, loss, workspace + 8, err, sizeof err);
  printf("misaligned workspace: %d %s\n", s, err);
  s = digits_loss_run(x, labels, loss, NULL, err, 12);
  printf("short message buffer: %d '%s'\n", s, err);
  return 0;
}
