/* The file system helpers an import relies on: a listing that never follows
 * a symlink, goes to any depth and names what it does not import; moves
 * across filesystems that keep holes, never open a special entry, and accept
 * any name the filesystem does; the sweep of interrupted copies. The cross-
 * filesystem cases need /dev/shm on another filesystem than the scratch
 * folder, and say so when it is not. */
#include "testutil.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sendit/fs.h"

static char *path_in(const char *dir, const char *name) {
  char *p = si_path_join(dir, name);
  assert_non_null(p);
  return p;
}

static void make_dir(const char *dir, const char *name) {
  char *p = path_in(dir, name);
  assert_int_equal(mkdir(p, 0755), 0);
  free(p);
}

static void make_file(const char *dir, const char *name, const char *text) {
  char *p = path_in(dir, name);
  assert_int_equal(tu_write_file(p, text, strlen(text)), 0);
  free(p);
}

/* A scratch folder of its own for each test. */
static char *scratch(const char *name) {
  char *p = path_in(tu_tmp_dir(), name);
  assert_int_equal(mkdir(p, 0755), 0);
  return p;
}

static void test_listing_follows_nothing_and_goes_deep(void **state) {
  (void)state;
  char *root = scratch("list");
  char *outside = scratch("outside");
  make_file(outside, "target.dcm", "outside");
  make_file(root, "top.dcm", "top");
  /* 100 folders deep: the old listing stopped at 32. */
  char rel[1024] = "";
  for (int i = 0; i < 100; i++) {
    size_t len = strlen(rel);
    snprintf(rel + len, sizeof rel - len, "%sd", i ? "/" : "");
    make_dir(root, rel);
  }
  char deep[1100];
  snprintf(deep, sizeof deep, "%s/deep.dcm", rel);
  make_file(root, deep, "deep");
  char *link = path_in(root, "link-to-file");
  assert_int_equal(symlink(outside, link), 0);
  char *dlink = path_in(root, "d/link-to-dir");
  assert_int_equal(symlink(outside, dlink), 0);
  char *fifo = path_in(root, "fifo");
  assert_int_equal(mkfifo(fifo, 0644), 0);

  si_file_list list;
  si_error err;
  assert_int_equal(si_list_files(root, &list, &err), SI_OK);
  assert_int_equal(list.count, 2);
  assert_string_equal(list.items[0].relative, deep);
  assert_string_equal(list.items[1].relative, "top.dcm");
  assert_int_equal(list.items[1].size, 3);
  assert_int_equal(list.other_count, 3);
  int symlinks = 0, fifos = 0;
  for (size_t i = 0; i < list.other_count; i++) {
    symlinks += strcmp(list.other_kinds[i], "symlink") == 0;
    fifos += strcmp(list.other_kinds[i], "FIFO") == 0;
    assert_null(strstr(list.others[i].relative, "target.dcm"));
  }
  assert_int_equal(symlinks, 2);
  assert_int_equal(fifos, 1);
  si_file_list_free(&list);
  assert_int_equal(si_dir_has_files(root), 1);

  /* A root that is a symlink is not followed either. */
  char *rootlink = path_in(tu_tmp_dir(), "rootlink");
  assert_int_equal(symlink(root, rootlink), 0);
  assert_int_equal(si_list_files(rootlink, &list, &err), SI_ERR_STATE);
  assert_int_equal(list.count, 0);
  assert_int_equal(si_dir_has_files(rootlink), 0);
  free(rootlink);
  free(link);
  free(dlink);
  free(fifo);
  free(root);
  free(outside);
}

static void test_partial_names(void **state) {
  (void)state;
  assert_true(si_is_partial_name(".sendit-partial-0123456789abcdef"));
  assert_false(si_is_partial_name("x.partial"));
  assert_false(si_is_partial_name("IMG1.dcm.partial"));
  assert_false(si_is_partial_name(".sendit-partial-0123456789ABCDEF"));
  assert_false(si_is_partial_name(".sendit-partial-0123456789abcde"));
  assert_false(si_is_partial_name(".sendit-partial-0123456789abcdef0"));
  assert_false(si_is_partial_name(".sendit-partial-0123456789abcdeg"));
}

static int keep_kept(void *user, const char *path) {
  (void)user;
  return strstr(path, "/kept/") != NULL;
}

static void test_remove_partials(void **state) {
  (void)state;
  char *root = scratch("sweep");
  make_dir(root, "sub");
  make_dir(root, "kept");
  make_file(root, "sub/.sendit-partial-00000000000000ff", "litter");
  make_file(root, ".sendit-partial-0000000000000001", "litter");
  make_file(root, "kept/.sendit-partial-0000000000000002", "a user's");
  make_file(root, "x.partial", "a user's");
  make_file(root, "IMG.dcm", "a user's");
  char *link = path_in(root, ".sendit-partial-0000000000000003");
  assert_int_equal(symlink("IMG.dcm", link), 0);
  size_t removed = 0;
  si_error err;
  assert_int_equal(si_remove_partials(root, keep_kept, NULL, &removed, &err), SI_OK);
  assert_int_equal(removed, 2);
  struct stat sb;
  char *gone = path_in(root, "sub/.sendit-partial-00000000000000ff");
  assert_int_not_equal(lstat(gone, &sb), 0);
  char *kept = path_in(root, "kept/.sendit-partial-0000000000000002");
  assert_int_equal(lstat(kept, &sb), 0);
  char *user = path_in(root, "x.partial");
  assert_int_equal(lstat(user, &sb), 0);
  assert_int_equal(lstat(link, &sb), 0); /* not a regular file: not ours */
  char *missing = path_in(root, "no-such-folder");
  assert_int_equal(si_remove_partials(missing, NULL, NULL, &removed, &err), SI_OK);
  assert_int_equal(removed, 0);
  free(missing);
  free(gone);
  free(kept);
  free(user);
  free(link);
  free(root);
}

static void test_remove_empty_dirs(void **state) {
  (void)state;
  char *root = scratch("empty");
  char *outside = scratch("outside-empty");
  make_dir(outside, "keep-me");
  char rel[1024] = "";
  for (int i = 0; i < 100; i++) {
    size_t len = strlen(rel);
    snprintf(rel + len, sizeof rel - len, "%se", i ? "/" : "");
    make_dir(root, rel);
  }
  make_dir(root, "full");
  make_file(root, "full/file", "x");
  char *link = path_in(root, "link");
  assert_int_equal(symlink(outside, link), 0);
  si_remove_empty_dirs(root);
  struct stat sb;
  char *e = path_in(root, "e"), *full = path_in(root, "full"), *kept = path_in(outside, "keep-me");
  assert_int_not_equal(lstat(e, &sb), 0); /* 100 empty levels gone */
  assert_int_equal(lstat(full, &sb), 0);  /* not empty: stays */
  assert_int_equal(lstat(link, &sb), 0);  /* a symlink is not a folder */
  assert_int_equal(lstat(kept, &sb), 0);  /* and is not followed */
  assert_int_equal(lstat(root, &sb), 0);
  free(e);
  free(full);
  free(kept);
  free(link);
  free(root);
  free(outside);
}

/* A folder on another filesystem than the scratch folder, or NULL. */
static char *other_filesystem(void) {
  struct stat a, b;
  if (stat("/dev/shm", &a) != 0 || stat(tu_tmp_dir(), &b) != 0 || a.st_dev == b.st_dev)
    return NULL;
  char *p = malloc(64);
  assert_non_null(p);
  snprintf(p, 64, "/dev/shm/sendit-test-fs-%ld", (long)getpid());
  assert_int_equal(mkdir(p, 0755), 0);
  return p;
}

static void test_moves_across_filesystems(void **state) {
  (void)state;
  char *other = other_filesystem();
  if (!other) {
    printf("# skip: /dev/shm is not another filesystem here: cross-filesystem moves not tested\n");
    skip();
  }
  char *src = scratch("across");
  si_error err;
  struct stat sb;

  /* A sparse file: 8 MiB, two small data regions. */
  char *sparse = path_in(src, "sparse.dcm");
  int fd = open(sparse, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  assert_true(fd >= 0);
  assert_int_equal(pwrite(fd, "head", 4, 0), 4);
  assert_int_equal(pwrite(fd, "tail", 4, 8 * 1024 * 1024 - 4), 4);
  close(fd);
  size_t src_size;
  uint8_t *src_bytes = tu_read_file(sparse, &src_size);
  assert_non_null(src_bytes);
  char *sparse_dst = path_in(other, "sparse.dcm");
  assert_int_equal(si_move_file(sparse, sparse_dst, &err), SI_OK);
  assert_int_not_equal(lstat(sparse, &sb), 0);
  assert_int_equal(lstat(sparse_dst, &sb), 0);
  assert_int_equal(sb.st_size, 8 * 1024 * 1024);
  assert_true(sb.st_blocks * 512 < 1024 * 1024); /* holes stayed holes */
  size_t dst_size;
  uint8_t *dst_bytes = tu_read_file(sparse_dst, &dst_size);
  assert_int_equal(dst_size, src_size);
  assert_memory_equal(dst_bytes, src_bytes, src_size);
  free(src_bytes);
  free(dst_bytes);

  /* A name of 255 bytes: the temporary copy's name must fit as well. */
  char name[256];
  memset(name, 'n', 255);
  name[255] = 0;
  make_file(src, name, "long");
  char *long_src = path_in(src, name), *long_dst = path_in(other, name);
  assert_int_equal(si_move_file(long_src, long_dst, &err), SI_OK);
  assert_int_equal(lstat(long_dst, &sb), 0);

  /* A symlink crosses as a symlink, never followed; a FIFO as a FIFO. */
  make_file(src, "target", "target");
  char *link = path_in(src, "link"), *link_dst = path_in(other, "link");
  assert_int_equal(symlink("/nonexistent/target", link), 0);
  assert_int_equal(si_move_file(link, link_dst, &err), SI_OK);
  char target[64];
  ssize_t n = readlink(link_dst, target, sizeof target - 1);
  assert_true(n > 0);
  target[n] = 0;
  assert_string_equal(target, "/nonexistent/target");
  assert_int_not_equal(lstat(link, &sb), 0);
  char *fifo = path_in(src, "fifo"), *fifo_dst = path_in(other, "fifo");
  assert_int_equal(mkfifo(fifo, 0640), 0);
  assert_int_equal(si_move_file(fifo, fifo_dst, &err), SI_OK); /* does not block */
  assert_int_equal(lstat(fifo_dst, &sb), 0);
  assert_true(S_ISFIFO(sb.st_mode));
  assert_int_equal(sb.st_mode & 0777, 0640);

  /* A taken destination, and a folder, are refused; nothing is lost. */
  make_file(src, "again", "again");
  char *again = path_in(src, "again");
  assert_int_equal(si_move_file(again, sparse_dst, &err), SI_ERR_STATE);
  assert_int_equal(lstat(again, &sb), 0);
  make_dir(src, "folder");
  char *folder = path_in(src, "folder"), *folder_dst = path_in(other, "folder");
  assert_int_equal(si_move_file(folder, folder_dst, &err), SI_ERR_UNSUPPORTED);
  assert_int_equal(lstat(folder, &sb), 0);

  /* A file written to while it is copied is not moved: the bytes appended
   * meanwhile would be lost with the source. A child appends until killed. */
  char *growing = path_in(src, "growing.dcm"), *growing_dst = path_in(other, "growing.dcm");
  fd = open(growing, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  assert_true(fd >= 0);
  char *block = calloc(1, 1 << 20);
  assert_non_null(block);
  for (int i = 0; i < 32; i++)
    assert_int_equal(write(fd, block, 1 << 20), 1 << 20);
  free(block);
  pid_t writer = fork();
  assert_true(writer >= 0);
  if (writer == 0) {
    int w = open(growing, O_WRONLY | O_APPEND);
    for (;;) {
      if (w < 0 || write(w, "x", 1) != 1)
        _exit(1);
      usleep(20);
    }
  }
  close(fd);
  while (lstat(growing, &sb) == 0 && sb.st_size == 32 << 20)
    usleep(100); /* the writer has begun */
  si_status moved = si_move_file(growing, growing_dst, &err);
  kill(writer, SIGKILL);
  waitpid(writer, NULL, 0);
  assert_int_equal(moved, SI_ERR_STATE);
  assert_non_null(strstr(err.message, "changed while it was copied"));
  assert_int_equal(lstat(growing, &sb), 0); /* kept, whole */
  assert_true(sb.st_size > 32 << 20);
  assert_int_not_equal(lstat(growing_dst, &sb), 0);

  /* No temporary copy is left anywhere. */
  size_t removed = 1;
  assert_int_equal(si_remove_partials(other, NULL, NULL, &removed, &err), SI_OK);
  assert_int_equal(removed, 0);

  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", other);
  assert_int_equal(system(cmd), 0);
  free(growing);
  free(growing_dst);
  free(folder);
  free(folder_dst);
  free(again);
  free(fifo);
  free(fifo_dst);
  free(link);
  free(link_dst);
  free(long_src);
  free(long_dst);
  free(sparse);
  free(sparse_dst);
  free(src);
  free(other);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_listing_follows_nothing_and_goes_deep),
      cmocka_unit_test(test_partial_names),
      cmocka_unit_test(test_remove_partials),
      cmocka_unit_test(test_remove_empty_dirs),
      cmocka_unit_test(test_moves_across_filesystems),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
