/* An index out of range inside a bundle (embedding_lookup.cj's gather) comes
 * back as a status and a message naming the op, the index and its place;
 * with the index fixed, the rows of the table. aot_bundle.sh. */
#include "embedding_lookup.h"

#include <stdio.h>

int main(void) {
  int32_t ids[EMBEDDING_LOOKUP_IDS_ELEMENTS] = {1, 2, 3, 4, 5, 6, 7, 12};
  float emb[EMBEDDING_LOOKUP_EMB_ELEMENTS];
  char err[256];
  int32_t s = embedding_lookup_run(ids, emb, NULL, err, sizeof err);
  printf("%d %s\n", s, err);
  ids[7] = 9;
  s = embedding_lookup_run(ids, emb, NULL, err, sizeof err);
  printf("%d %g %g\n", s, emb[0], emb[EMBEDDING_LOOKUP_EMB_ELEMENTS - 1]);
  return 0;
}
