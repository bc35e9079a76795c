/* See curl_dl.h. */
#include "util/curl_dl.h"

#include <pthread.h>
#include <stdio.h>

#include "util/dl.h"

static si_curl_api api;
static char load_problem[512]; /* why libcurl could not be loaded, "" when it was */

#define SI_CURL_NAME(name) #name,
#define SI_CURL_SLOT(name) (void **)&api.name,
static void load_curl(void) {
  static const char *const names[] = {SI_CURL_FUNCTIONS(SI_CURL_NAME)};
  void **const slots[] = {SI_CURL_FUNCTIONS(SI_CURL_SLOT)};
  if (si_dl_resolve("libcurl.so.4", names, slots, sizeof names / sizeof names[0], load_problem,
                    sizeof load_problem) &&
      api.curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
    snprintf(load_problem, sizeof load_problem, "curl_global_init failed");
}
#undef SI_CURL_NAME
#undef SI_CURL_SLOT

const si_curl_api *si_curl(char *problem, size_t size) {
  static pthread_once_t loaded = PTHREAD_ONCE_INIT;
  pthread_once(&loaded, load_curl);
  if (load_problem[0]) {
    if (problem && size)
      snprintf(problem, size, "%s", load_problem);
    return NULL;
  }
  return &api;
}
