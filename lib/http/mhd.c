#include "mhd.h"

#include <pthread.h>
#include <stddef.h>

#include "util/dl.h"

web_mhd_table web_mhd;
static char problem[512]; /* why it could not be loaded, "" when it was */

/* POSIX's way to store dlsym's result in a function pointer: through a
 * (void **) to the pointer. */
#define MHD_NAME(name) #name,
#define MHD_SLOT(name) (void **)&web_mhd.name,
static void load(void) {
  static const char *const names[] = {WEB_MHD_FUNCTIONS(MHD_NAME)};
  void **const slots[] = {WEB_MHD_FUNCTIONS(MHD_SLOT)};
  si_dl_resolve("libmicrohttpd.so.12", names, slots, sizeof names / sizeof names[0], problem,
                sizeof problem);
}
#undef MHD_NAME
#undef MHD_SLOT

const char *web_mhd_load(void) {
  static pthread_once_t once = PTHREAD_ONCE_INIT;
  pthread_once(&once, load);
  return problem;
}
