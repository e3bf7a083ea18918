/* A small product in C, like example-product: the one-call check, then each feature named on the
 * command line is gated (402 and its code when closed). Exit 0 all allowed, 3 something denied,
 * 2 cannot judge.   product TRUST LICENSE_DIR STATE_DIR FEATURE...  (make ffi-test runs it) */
#include "airlock.h"

#include <stdio.h>

int main(int argc, char **argv) {
  if (argc < 4) {
    fprintf(stderr, "usage: %s TRUST LICENSE_DIR STATE_DIR FEATURE...\n", argv[0]);
    return 2;
  }
  airlock_check_options o = {argv[1], argv[2], argv[3], NULL, -1};
  airlock_status *st = NULL;
  airlock_error *err = NULL;
  if (airlock_check(&o, &st, &err) != AIRLOCK_OK) {
    fprintf(stderr, "cannot run licensed work: %s: %s\n", airlock_error_code(err),
            airlock_error_message(err));
    airlock_error_free(err);
    return 2;
  }
  printf("license state: %s\n", airlock_status_state(st));
  int code = 0;
  for (int i = 4; i < argc; i++) {
    if (airlock_status_feature(st, argv[i], &err) == AIRLOCK_OK) {
      printf("feature %s: allowed\n", argv[i]);
    } else {
      printf("feature %s: %u %s\n", argv[i], airlock_error_http_status(err), airlock_error_code(err));
      airlock_error_free(err);
      err = NULL;
      code = 3;
    }
  }
  airlock_status_free(st);
  return code;
}
