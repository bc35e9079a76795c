#include "dl.h"

#include <dlfcn.h>
#include <stdio.h>

int si_dl_resolve(const char *soname, const char *const *names, void **const *slots, size_t n,
                  char *problem, size_t size) {
  void *lib = dlopen(soname, RTLD_NOW | RTLD_LOCAL);
  if (!lib) {
    snprintf(problem, size, "%s", dlerror());
    return 0;
  }
  for (size_t i = 0; i < n; i++)
    if (!(*slots[i] = dlsym(lib, names[i]))) {
      snprintf(problem, size, "%s has no %s", soname, names[i]);
      return 0;
    }
  return 1;
}
