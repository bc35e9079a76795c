/* The package's loaded libraries: libarchive (always) and libcrypto (for
 * SHA-256, when present). See package_internal.h. */
#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "deliver/package_internal.h"
#include "util/dl.h"

/* ---- libarchive ---- */

static si_archive_api archive_api;
static char archive_problem[512]; /* why it could not be loaded, "" when it was */

#define SI_ARCHIVE_NAME(name) #name,
#define SI_ARCHIVE_SLOT(name) (void **)&archive_api.name,
static void load_archive(void) {
  static const char *const names[] = {SI_ARCHIVE_FUNCTIONS(SI_ARCHIVE_NAME)};
  void **const slots[] = {SI_ARCHIVE_FUNCTIONS(SI_ARCHIVE_SLOT)};
  (void)si_dl_resolve("libarchive.so.13", names, slots, sizeof names / sizeof names[0],
                      archive_problem, sizeof archive_problem);
}
#undef SI_ARCHIVE_NAME
#undef SI_ARCHIVE_SLOT

const si_archive_api *si_archive(char *problem, size_t size) {
  static pthread_once_t loaded = PTHREAD_ONCE_INIT;
  pthread_once(&loaded, load_archive);
  if (archive_problem[0]) {
    if (problem && size)
      snprintf(problem, size, "%s", archive_problem);
    return NULL;
  }
  return &archive_api;
}

/* ---- SHA-256 ---- */

/* clang-format off */
#define SI_EVP_FUNCTIONS(X) \
  X(EVP_MD_CTX_new) \
  X(EVP_MD_CTX_free) \
  X(EVP_sha256) \
  X(EVP_DigestInit_ex) \
  X(EVP_DigestUpdate) \
  X(EVP_DigestFinal_ex)
/* clang-format on */

static struct {
#define SI_EVP_DECLARE(name) __typeof__(name) *name;
  SI_EVP_FUNCTIONS(SI_EVP_DECLARE)
#undef SI_EVP_DECLARE
} evp;
static int have_evp;

#define SI_EVP_NAME(name) #name,
#define SI_EVP_SLOT(name) (void **)&evp.name,
static void load_evp(void) {
  static const char *const names[] = {SI_EVP_FUNCTIONS(SI_EVP_NAME)};
  void **const slots[] = {SI_EVP_FUNCTIONS(SI_EVP_SLOT)};
  char problem[256];
  /* Without libcrypto libsodium does the same job, only slower. */
  have_evp = si_dl_resolve("libcrypto.so.3", names, slots, sizeof names / sizeof names[0], problem,
                           sizeof problem);
  int sodium = sodium_init(); /* libsodium's hash works without it; called for its CPU probe */
  (void)sodium;
}
#undef SI_EVP_NAME
#undef SI_EVP_SLOT

static int evp_loaded(void) {
  static pthread_once_t loaded = PTHREAD_ONCE_INIT;
  pthread_once(&loaded, load_evp);
  return have_evp;
}

const char *si_pkg_sha256_backend(void) { return evp_loaded() ? "libcrypto" : "libsodium"; }

void si_pkg_sha256_init(si_pkg_sha256 *h, int force_sodium) {
  h->evp = NULL;
  if (!force_sodium && evp_loaded()) {
    EVP_MD_CTX *ctx = evp.EVP_MD_CTX_new();
    if (ctx && evp.EVP_DigestInit_ex(ctx, evp.EVP_sha256(), NULL) == 1) {
      h->evp = ctx;
      return;
    }
    if (ctx)
      evp.EVP_MD_CTX_free(ctx);
  }
  crypto_hash_sha256_init(&h->sodium);
}

void si_pkg_sha256_update(si_pkg_sha256 *h, const void *data, size_t size) {
  if (h->evp)
    (void)evp.EVP_DigestUpdate(h->evp, data, size);
  else
    crypto_hash_sha256_update(&h->sodium, data, size);
}

void si_pkg_sha256_final(si_pkg_sha256 *h, char hex[65]) {
  unsigned char digest[32];
  if (h->evp) {
    unsigned int len = 0;
    (void)evp.EVP_DigestFinal_ex(h->evp, digest, &len);
    evp.EVP_MD_CTX_free(h->evp);
    h->evp = NULL;
  } else {
    crypto_hash_sha256_final(&h->sodium, digest);
  }
  sodium_bin2hex(hex, 65, digest, sizeof digest);
}
