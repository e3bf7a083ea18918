/* The C ABI's own test: every function of include/airlock.h, the repository's language-neutral
 * vectors (vectors/README.md) with the verdict each expects, and a scenario over a site the
 * vendor tools made (fixture.sh): the one-call check, feature and limit gates, a bundle
 * verified and extracted, a tampered one refused with the code runtime-verify gave, evaluation
 * terms now and after their end (the states runtime-verify gave), a revocation list imported,
 * a status read from several threads, and usage errors. Run by `make ffi-test`, under valgrind when it is
 * installed (no leak, no invalid access).
 *   test_airlock VECTORS_DIR FIXTURE_DIR
 */
#define _DEFAULT_SOURCE
#include "airlock.h"

#include <dirent.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

static int failures = 0;
static int checks = 0;

#define CHECK(cond, ...)                                                       \
  do {                                                                         \
    checks++;                                                                  \
    if (!(cond)) {                                                             \
      failures++;                                                              \
      fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);                     \
      fprintf(stderr, __VA_ARGS__);                                            \
      fputc('\n', stderr);                                                     \
    }                                                                          \
  } while (0)

static char *slurp(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  char *buf = malloc((size_t)n + 1);
  size_t got = fread(buf, 1, (size_t)n, f);
  buf[got] = 0;
  fclose(f);
  return buf;
}

static void trim(char *s) {
  size_t n = strlen(s);
  while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == '\r' || s[n - 1] == ' ')) s[--n] = 0;
}

static int exists(const char *p) {
  struct stat st;
  return stat(p, &st) == 0;
}

/* RFC 3339 UTC (YYYY-MM-DDTHH:MM:SSZ) to Unix seconds. */
static long long unix_of(const char *t) {
  struct tm tm;
  memset(&tm, 0, sizeof tm);
  if (sscanf(t, "%d-%d-%dT%d:%d:%dZ", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
             &tm.tm_min, &tm.tm_sec) != 6)
    return -1;
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  return (long long)timegm(&tm);
}

/* The value of `key: value` in a case header (a static buffer per key). */
static int header(const char *text, const char *key, char *out, size_t cap) {
  size_t k = strlen(key);
  const char *p = text;
  while (p && *p) {
    if (strncmp(p, key, k) == 0 && p[k] == ':') {
      const char *v = p + k + 1;
      while (*v == ' ') v++;
      size_t n = strcspn(v, "\n");
      if (n >= cap) n = cap - 1;
      memcpy(out, v, n);
      out[n] = 0;
      trim(out);
      return 1;
    }
    p = strchr(p, '\n');
    if (p) p++;
  }
  return 0;
}

/* One vector: the verdict airlock_verify gives, compared with the case's `expect`. */
static void vector(const char *dir) {
  char path[4096], doc[4096], sig[4096], expect[256], verify[64], at[64], ctx[64];
  snprintf(path, sizeof path, "%s/case.txt", dir);
  char *text = slurp(path);
  if (!text) return;
  header(text, "expect", expect, sizeof expect);
  header(text, "verify", verify, sizeof verify);
  long long when = header(text, "at", at, sizeof at) ? unix_of(at) : 0;
  const char *context = NULL;
  if (header(text, "signed-at", ctx, sizeof ctx) || header(text, "runtime-version", ctx, sizeof ctx))
    context = ctx;
  free(text);
  snprintf(path, sizeof path, "%s/anchor.txt", dir);
  char *root = slurp(path);
  trim(root);
  char trust[4096];
  snprintf(trust, sizeof trust, "%s/trust.json", dir);
  const char *file = strcmp(verify, "bundle") == 0 ? "bundle.tar.gz" : NULL;
  if (strcmp(verify, "trust") == 0) {
    snprintf(doc, sizeof doc, "%s", trust);
    sig[0] = 0;
  } else {
    char name[128];
    snprintf(name, sizeof name, "%s", file ? file : verify);
    if (!file) strncat(name, ".json", sizeof name - strlen(name) - 1);
    snprintf(doc, sizeof doc, "%s/%s", dir, name);
    snprintf(sig, sizeof sig, "%s/%s%s", dir, file ? file : verify, ".sig");
  }
  char *out = NULL;
  airlock_error *err = NULL;
  airlock_result r = airlock_verify(verify, trust, root, doc, exists(sig) ? sig : NULL, when,
                                    context, &out, &err);
  char got[512];
  if (r == AIRLOCK_OK) {
    const char *state = strstr(out, "\"state\":\"");
    if (state && strncmp(expect, "valid ", 6) == 0) {
      state += 9;
      snprintf(got, sizeof got, "valid %.*s", (int)strcspn(state, "\""), state);
    } else {
      snprintf(got, sizeof got, "valid");
    }
  } else {
    snprintf(got, sizeof got, "%s %s", r == AIRLOCK_REJECTED ? "rejected" : "error",
             airlock_error_code(err));
  }
  CHECK(strcmp(got, expect) == 0, "%s: expected %s, got %s (%s)", dir, expect, got,
        err ? airlock_error_message(err) : "");
  airlock_string_free(out);
  airlock_error_free(err);
  free(root);
}

static int vectors(const char *root) {
  int n = 0;
  DIR *groups = opendir(root);
  CHECK(groups != NULL, "no vectors at %s", root);
  if (!groups) return 0;
  struct dirent *g;
  while ((g = readdir(groups))) {
    if (g->d_name[0] == '.') continue;
    char gdir[4096];
    snprintf(gdir, sizeof gdir, "%s/%s", root, g->d_name);
    DIR *cases = opendir(gdir);
    if (!cases) continue;
    struct dirent *c;
    while ((c = readdir(cases))) {
      if (c->d_name[0] == '.') continue;
      char cdir[4096];
      snprintf(cdir, sizeof cdir, "%s/%s", gdir, c->d_name);
      vector(cdir);
      n++;
    }
    closedir(cases);
  }
  closedir(groups);
  return n;
}

struct shared {
  const airlock_status *status;
  int denied;
};

static void *gate_reader(void *arg) {
  struct shared *s = arg;
  for (int i = 0; i < 500; i++) {
    airlock_error *e = NULL;
    if (airlock_status_feature(s->status, "gate", &e) != AIRLOCK_OK) s->denied++;
    airlock_error_free(e);
  }
  return NULL;
}

/* The one-call check with the license and state directories `lic` and `st` of the site, at
 * `now` (-1: the system clock); the result, the status in *out. */
static airlock_result check_in(const char *fix, const char *lic_dir, const char *state_dir,
                               const char *root, long long now, airlock_status **out,
                               airlock_error **err) {
  char trust[4096], lic[4096], state[4096];
  snprintf(trust, sizeof trust, "%s/trust.json", fix);
  snprintf(lic, sizeof lic, "%s/%s", fix, lic_dir);
  snprintf(state, sizeof state, "%s/%s", fix, state_dir);
  airlock_check_options o = {trust, lic, state, root, now};
  return airlock_check(&o, out, err);
}

static airlock_result check_at(const char *fix, const char *root, long long now,
                               airlock_status **out, airlock_error **err) {
  return check_in(fix, "license", "state", root, now, out, err);
}

/* A file of the site that runtime-verify wrote (fixture.sh), trimmed; "" when missing. */
static char *said(const char *fix, const char *name) {
  char path[4096];
  snprintf(path, sizeof path, "%s/%s", fix, name);
  char *s = slurp(path);
  CHECK(s != NULL, "no %s", path);
  if (!s) return calloc(1, 1);
  trim(s);
  return s;
}

/* Evaluation terms on a fresh state: the state runtime-verify gave now and 61 days on, and the
 * gate closed with evaluation_expired and 402 once they are over. */
static void evaluation(const char *fix, const char *root) {
  char *now_state = said(fix, "evaluation.state"), *later_state = said(fix, "evaluation-later.state");
  char *later = said(fix, "evaluation-later.time");
  airlock_status *st = NULL;
  airlock_error *err = NULL;
  airlock_result r = check_in(fix, "evaluation", "state-eval-c", root, -1, &st, &err);
  CHECK(r == AIRLOCK_OK && strcmp(airlock_status_state(st), now_state) == 0, "evaluation: %s",
        st ? airlock_status_state(st) : airlock_error_message(err));
  CHECK(r == AIRLOCK_OK && airlock_status_feature(st, "gate", NULL) == AIRLOCK_OK, "evaluation gate");
  airlock_status_free(st);
  airlock_error_free(err);
  st = NULL;
  err = NULL;
  r = check_in(fix, "evaluation", "state-eval-c", NULL, atoll(later), &st, &err);
  CHECK(r == AIRLOCK_OK && strcmp(airlock_status_state(st), later_state) == 0, "61 days on: %s",
        st ? airlock_status_state(st) : airlock_error_message(err));
  if (st) {
    r = airlock_status_feature(st, "gate", &err);
    CHECK(r == AIRLOCK_DENIED && strcmp(airlock_error_code(err), "evaluation_expired") == 0 &&
              airlock_error_http_status(err) == 402,
          "the gate after the evaluation: %d %s", r, err ? airlock_error_code(err) : "");
  }
  airlock_status_free(st);
  airlock_error_free(err);
  free(now_state);
  free(later_state);
  free(later);
}

static void scenario(const char *fix) {
  char path[4096], trust[4096], state[4096], bundle[4096], extract[4096];
  snprintf(path, sizeof path, "%s/root.txt", fix);
  char *root = slurp(path);
  CHECK(root != NULL, "no %s", path);
  if (!root) return;
  trim(root);
  snprintf(trust, sizeof trust, "%s/trust.json", fix);
  snprintf(state, sizeof state, "%s/state", fix);
  snprintf(bundle, sizeof bundle, "%s/bundle.tar.gz", fix);
  CHECK(airlock_version() && strlen(airlock_version()) > 0, "version");

  /* The one call: active, gates open for licensed features, closed with 402 otherwise. */
  airlock_status *st = NULL;
  airlock_error *err = NULL;
  airlock_result r = check_at(fix, root, -1, &st, &err);
  CHECK(r == AIRLOCK_OK, "check: %s", err ? airlock_error_message(err) : "");
  airlock_error_free(err);
  err = NULL;
  if (st) {
    CHECK(strcmp(airlock_status_state(st), "active") == 0, "state %s", airlock_status_state(st));
    CHECK(strstr(airlock_status_json(st), "\"product\":\"gateway\"") != NULL &&
              strstr(airlock_status_json(st), "\"kind\":\"lease\"") != NULL,
          "json %s", airlock_status_json(st));
    CHECK(airlock_status_feature(st, "gate", &err) == AIRLOCK_OK, "gate");
    r = airlock_status_feature(st, "teleport", &err);
    CHECK(r == AIRLOCK_DENIED && strcmp(airlock_error_code(err), "feature_not_licensed") == 0 &&
              airlock_error_http_status(err) == 402,
          "an unlicensed feature: %d %s", r, err ? airlock_error_code(err) : "");
    airlock_error_free(err);
    err = NULL;
    CHECK(airlock_status_limit(st, "agents", 1000000, &err) == AIRLOCK_OK, "sovereign limits");
    /* One status, four threads reading its gate at once. */
    pthread_t t[4];
    struct shared s[4];
    for (int i = 0; i < 4; i++) {
      s[i].status = st;
      s[i].denied = 0;
      pthread_create(&t[i], NULL, gate_reader, &s[i]);
    }
    for (int i = 0; i < 4; i++) {
      pthread_join(t[i], NULL);
      CHECK(s[i].denied == 0, "thread %d denied %d times", i, s[i].denied);
    }
    airlock_status_free(st);
    st = NULL;
  }

  /* Usage errors never crash: null options, null out-pointers, a null feature. */
  r = airlock_check(NULL, &st, &err);
  CHECK(r == AIRLOCK_ERROR && strcmp(airlock_error_code(err), "usage") == 0, "null options");
  airlock_error_free(err);
  err = NULL;
  CHECK(airlock_status_feature(NULL, "gate", &err) == AIRLOCK_ERROR, "null status");
  airlock_error_free(err);
  err = NULL;
  CHECK(airlock_check(NULL, NULL, NULL) == AIRLOCK_ERROR, "all null, no error wanted");
  char *out = NULL;
  r = airlock_verify("teleport", trust, root, trust, NULL, 0, NULL, &out, &err);
  CHECK(r == AIRLOCK_ERROR && strcmp(airlock_error_code(err), "usage") == 0, "unknown kind");
  airlock_error_free(err);
  err = NULL;
  CHECK(airlock_status_state(NULL) == NULL && airlock_error_code(NULL) == NULL &&
            airlock_error_http_status(NULL) == 0,
        "null handles read as nothing");
  airlock_string_free(NULL);
  airlock_error_free(NULL);
  airlock_status_free(NULL);

  /* A license verified alone. */
  snprintf(path, sizeof path, "%s/license/license.json", fix);
  char sig[4096];
  snprintf(sig, sizeof sig, "%s/license/license.sig", fix);
  r = airlock_verify("license", trust, root, path, sig, (long long)time(NULL), NULL, &out, &err);
  CHECK(r == AIRLOCK_OK && strstr(out, "\"state\":\"active\""), "license: %s",
        err ? airlock_error_message(err) : out);
  airlock_string_free(out);
  out = NULL;
  airlock_error_free(err);
  err = NULL;

  /* The bundle: verified with the state and extracted; a tampered copy refused. */
  snprintf(extract, sizeof extract, "%s/extracted", fix);
  r = airlock_verify_bundle(bundle, NULL, trust, NULL, state, extract, -1, &out, &err);
  CHECK(r == AIRLOCK_OK, "bundle: %s", err ? airlock_error_message(err) : "");
  snprintf(path, sizeof path, "%s/payload/README.txt", extract);
  CHECK(exists(path), "%s extracted", path);
  airlock_string_free(out);
  out = NULL;
  airlock_error_free(err);
  err = NULL;
  char tampered[4096], tsig[4096];
  snprintf(tampered, sizeof tampered, "%s/tampered.tar.gz", fix);
  snprintf(tsig, sizeof tsig, "%s/bundle.tar.gz.sig", fix);
  char *expected = said(fix, "tampered.check");
  r = airlock_verify_bundle(tampered, tsig, trust, NULL, state, NULL, -1, &out, &err);
  CHECK(r == AIRLOCK_REJECTED && strcmp(airlock_error_code(err), expected) == 0,
        "tampered bundle: %d %s, runtime-verify said %s", r, err ? airlock_error_code(err) : "",
        expected);
  free(expected);
  airlock_error_free(err);
  err = NULL;
  evaluation(fix, root);

  /* The revocation list naming the license, imported: the product stops. */
  char list[4096];
  snprintf(list, sizeof list, "%s/revocations/revocations.json", fix);
  r = airlock_import_revocations(list, NULL, trust, NULL, state, -1, &err);
  CHECK(r == AIRLOCK_OK, "import: %s", err ? airlock_error_message(err) : "");
  airlock_error_free(err);
  err = NULL;
  r = check_at(fix, NULL, -1, &st, &err);
  CHECK(r == AIRLOCK_REJECTED && strcmp(airlock_error_code(err), "license_revoked") == 0 &&
            airlock_error_http_status(err) == 403,
        "after the list: %d %s", r, err ? airlock_error_code(err) : "");
  airlock_error_free(err);
  free(root);
}

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: %s VECTORS_DIR FIXTURE_DIR\n", argv[0]);
    return 2;
  }
  int n = vectors(argv[1]);
  CHECK(n > 50, "only %d vectors", n);
  scenario(argv[2]);
  printf("libairlock %s: %d vectors, %d checks, %d failed\n", airlock_version(), n, checks,
         failures);
  return failures ? 1 : 0;
}
