/* The package (sendit/package.h): names made safe from hostile header
 * values, the layout, a package that stays below its folder and never
 * follows a symlink, atomic writes (a failure leaves no temporary and no
 * partial archive, an older archive stays whole), a re-run that replaces
 * the same names, the manifest's rows and hashes. The files are small
 * Part 10 files written here byte by byte. */
#include "testutil.h"

#include <dirent.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "deliver/package_internal.h"
#include "sendit/fs.h"
#include "sendit/package.h"

/* ---- a tiny Part 10 writer ---- */

typedef struct buf {
  unsigned char data[4096];
  size_t len;
} buf;

static void put(buf *b, const void *p, size_t n) {
  assert_true(b->len + n <= sizeof b->data);
  memcpy(b->data + b->len, p, n);
  b->len += n;
}

/* Explicit VR little endian, short-length VRs only. */
static void element(buf *b, uint16_t group, uint16_t elem, const char vr[2], const char *value) {
  size_t n = strlen(value), padded = n + (n & 1);
  unsigned char head[8] = {(unsigned char)group,  (unsigned char)(group >> 8),
                           (unsigned char)elem,   (unsigned char)(elem >> 8),
                           (unsigned char)vr[0],  (unsigned char)vr[1],
                           (unsigned char)padded, (unsigned char)(padded >> 8)};
  put(b, head, 8);
  put(b, value, n);
  if (n & 1)
    put(b, vr[0] == 'U' && vr[1] == 'I' ? "\0" : " ", 1);
}

typedef struct fake {
  const char *patient, *date, *accession, *study, *series, *instance;
} fake;

static void write_dicom(const char *path, const fake *f) {
  buf meta = {.len = 0}, ds = {.len = 0}, file = {.len = 0};
  element(&meta, 0x0002, 0x0002, "UI", "1.2.840.10008.5.1.4.1.1.7");
  element(&meta, 0x0002, 0x0003, "UI", f->instance);
  element(&meta, 0x0002, 0x0010, "UI", "1.2.840.10008.1.2.1");
  element(&ds, 0x0008, 0x0016, "UI", "1.2.840.10008.5.1.4.1.1.7");
  element(&ds, 0x0008, 0x0018, "UI", f->instance);
  element(&ds, 0x0008, 0x0020, "DA", f->date);
  element(&ds, 0x0008, 0x0050, "SH", f->accession);
  element(&ds, 0x0010, 0x0020, "LO", f->patient);
  element(&ds, 0x0010, 0x0040, "CS", "O");
  element(&ds, 0x0020, 0x000D, "UI", f->study);
  element(&ds, 0x0020, 0x000E, "UI", f->series);
  static const unsigned char zeros[128] = {0};
  put(&file, zeros, 128);
  put(&file, "DICM", 4);
  unsigned char gl[12] = {0x02, 0, 0, 0, 'U', 'L', 4, 0};
  uint32_t len = (uint32_t)meta.len;
  memcpy(gl + 8, &len, 4);
  put(&file, gl, 12);
  put(&file, meta.data, meta.len);
  put(&file, ds.data, ds.len);
  assert_int_equal(tu_write_file(path, file.data, file.len), 0);
}

/* ---- helpers ---- */

static char *scratch(const char *name) {
  char *p = si_path_join(tu_tmp_dir(), name);
  assert_non_null(p);
  assert_int_equal(mkdir(p, 0755), 0);
  return p;
}

typedef struct batch_fixture {
  si_dest_item items[3];
  char paths[3][512];
  fake fakes[3];
  si_dest_batch batch;
} batch_fixture;

static void make_batch(batch_fixture *fx, const char *dir, const char *patient,
                       const char *accession, const char *date) {
  static const char *const instances[3] = {"1.2.3.4.1", "1.2.3.4.2", "1.2.3.4.3"};
  for (int i = 0; i < 3; i++) {
    snprintf(fx->paths[i], sizeof fx->paths[i], "%s/in%d.dcm", dir, i);
    fx->fakes[i] =
        (fake){patient, date, accession, "1.2.3", i < 2 ? "1.2.3.1" : "1.2.3.2", instances[i]};
    write_dicom(fx->paths[i], &fx->fakes[i]);
    struct stat sb;
    assert_int_equal(stat(fx->paths[i], &sb), 0);
    fx->items[i] = (si_dest_item){.path = fx->paths[i],
                                  .sop_class_uid = "1.2.840.10008.5.1.4.1.1.7",
                                  .sop_instance_uid = instances[i],
                                  .study_uid = "1.2.3",
                                  .series_uid = fx->fakes[i].series,
                                  .size = (int64_t)sb.st_size};
  }
  fx->batch =
      (si_dest_batch){.batch_uid = "2.25.99", .source = "deid", .items = fx->items, .count = 3};
}

/* Files below dir (recursively) whose name is a temporary one. */
static int count_partials(const char *dir) {
  DIR *d = opendir(dir);
  if (!d)
    return 0;
  int n = 0;
  struct dirent *e;
  while ((e = readdir(d)) != NULL) {
    if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
      continue;
    char *p = si_path_join(dir, e->d_name);
    struct stat sb;
    if (lstat(p, &sb) == 0 && S_ISDIR(sb.st_mode))
      n += count_partials(p);
    else if (strncmp(e->d_name, SI_PARTIAL_PREFIX, strlen(SI_PARTIAL_PREFIX)) == 0)
      n++;
    free(p);
  }
  closedir(d);
  return n;
}

static int entries_in(const char *dir) {
  DIR *d = opendir(dir);
  assert_non_null(d);
  int n = 0;
  struct dirent *e;
  while ((e = readdir(d)) != NULL)
    n += strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
  closedir(d);
  return n;
}

/* ---- tests ---- */

static void test_sanitize(void **state) {
  (void)state;
  static const struct {
    const char *in, *fallback, *out;
  } cases[] = {
      {"P2000003", "b", "P2000003"},
      {"../../etc", "b", "_._.__etc"},
      {"..", "b", "_."},
      {".", "b", "_"},
      {".hidden", "b", "_hidden"},
      {"a..b", "b", "a._b"},
      {"a/b\\c", "b", "a_b_c"},
      {"tab\there\nnl", "b", "tab_here_nl"},
      {"Müller", "b", "M__ller"},
      {"", "2.25.7", "2.25.7"},
      {"", "", "_"},
      {"", "../x", "_._x"},
      {"1.2.840", "b", "1.2.840"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    char out[80];
    si_package_sanitize(cases[i].in, cases[i].fallback, out, sizeof out);
    assert_string_equal(out, cases[i].out);
  }
  /* Long values are cut to 64 bytes. */
  char longer[200], out[80];
  memset(longer, 'x', sizeof longer - 1);
  longer[sizeof longer - 1] = '\0';
  si_package_sanitize(longer, "b", out, sizeof out);
  assert_int_equal(strlen(out), 64);
  /* Every byte value alone: never a '/', never "." or "..", never a
   * leading dot, never a control character. */
  for (int c = 1; c < 256; c++) {
    char in[4] = {(char)c, (char)c, (char)c, 0};
    si_package_sanitize(in, "b", out, sizeof out);
    assert_null(strchr(out, '/'));
    assert_null(strstr(out, ".."));
    assert_true(out[0] != '.' && out[0] != '\0');
    for (const char *k = out; *k; k++)
      assert_true((unsigned char)*k >= 0x20 && (unsigned char)*k < 0x7f);
  }
}

static void test_layout_check(void **state) {
  (void)state;
  si_error err;
  assert_int_equal(si_package_layout_check(SI_PACKAGE_DEFAULT_LAYOUT, &err), SI_OK);
  assert_int_equal(si_package_layout_check("{batch}", &err), SI_OK);
  assert_int_equal(si_package_layout_check("x/{date}-{accession}", &err), SI_OK);
  static const char *const bad[] = {"",         "/abs/{batch}", "../{batch}", "a//{batch}",
                                    "{nope}",   "{batch",       "batch}",     "a/./b",
                                    "a/\x01/b", "{batch}/"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    assert_int_equal(si_package_layout_check(bad[i], &err), SI_ERR_CONFIG);
}

static void test_hostile_headers_stay_below(void **state) {
  (void)state;
  char *dir = scratch("hostile");
  char *root = scratch("hostile-root");
  batch_fixture fx;
  make_batch(&fx, dir, "../../etc", "a/b\x01../..", "");
  si_package_options o = {.compression = SI_PACKAGE_NONE};
  char rel[1024];
  si_error err;
  assert_int_equal(si_package_layout(&fx.batch, &o, rel, sizeof rel, &err), SI_OK);
  assert_string_equal(rel, "sendit/_._.__etc/_._.__etc_2.25.99_a_b_.__._.tar");
  si_package_result res;
  assert_int_equal(si_package_deliver(root, &fx.batch, &o, &res, &err), SI_OK);
  assert_string_equal(res.relative, rel);
  char *path = si_path_join(root, rel);
  struct stat sb;
  assert_int_equal(stat(path, &sb), 0);
  assert_int_equal(res.archive_bytes, (int64_t)sb.st_size);
  /* Nothing beside the scratch folders appeared: root holds one entry. */
  assert_int_equal(entries_in(root), 1);
  assert_int_equal(count_partials(root), 0);
  free(path);
  free(dir);
  free(root);
}

static void test_symlinks_refused(void **state) {
  (void)state;
  char *dir = scratch("links");
  char *root = scratch("links-root");
  char *outside = scratch("links-outside");
  batch_fixture fx;
  make_batch(&fx, dir, "P1", "A1", "20240101");
  char *link = si_path_join(root, "sendit");
  assert_int_equal(symlink(outside, link), 0);
  si_package_options o = {.compression = SI_PACKAGE_NONE};
  si_package_result res;
  si_error err;
  /* A symlink on the way: refused, nothing written through it. */
  assert_int_equal(si_package_deliver(root, &fx.batch, &o, &res, &err), SI_ERR_STATE);
  assert_non_null(strstr(err.message, "symlink"));
  assert_int_equal(entries_in(outside), 0);
  /* The root itself a symlink: refused too. */
  char *root_link = si_path_join(tu_tmp_dir(), "links-root-link");
  assert_int_equal(symlink(outside, root_link), 0);
  assert_int_equal(si_package_deliver(root_link, &fx.batch, &o, &res, &err), SI_ERR_STATE);
  assert_int_equal(entries_in(outside), 0);
  /* With trailing slashes, which make open(2) follow a symlink. */
  char slashed[1100];
  snprintf(slashed, sizeof slashed, "%s//", root_link);
  assert_int_equal(si_package_deliver(slashed, &fx.batch, &o, &res, &err), SI_ERR_STATE);
  assert_int_equal(entries_in(outside), 0);
  free(root_link);
  free(link);
  free(outside);
  free(dir);
  free(root);
}

static json_t *read_manifest(const char *path, size_t *rows) {
  FILE *f = fopen(path, "r");
  assert_non_null(f);
  json_t *all = json_array();
  char line[8192];
  while (fgets(line, sizeof line, f)) {
    json_error_t jerr;
    json_t *row = json_loads(line, 0, &jerr);
    assert_non_null(row);
    json_array_append_new(all, row);
  }
  fclose(f);
  *rows = json_array_size(all);
  return all;
}

static void test_manifest_and_rerun(void **state) {
  (void)state;
  char *dir = scratch("manifest");
  char *root = scratch("manifest-root");
  batch_fixture fx;
  make_batch(&fx, dir, "P7", "A7", "20240202");
  si_package_options o = {.compression = SI_PACKAGE_NONE, .collection = "coll"};
  si_package_result res, again;
  si_error err;
  assert_int_equal(si_package_deliver(root, &fx.batch, &o, &res, &err), SI_OK);
  assert_string_equal(res.relative, "coll/P7/P7_20240202_A7.tar");
  assert_int_equal(res.members, 3);
  char *archive = si_path_join(root, res.relative);
  char manifest[2048];
  snprintf(manifest, sizeof manifest, "%s.manifest.jsonl", archive);
  char hex[65];
  assert_int_equal(si_package_sha256_file(archive, hex, &err), SI_OK);
  assert_string_equal(hex, res.sha256);
  size_t n;
  json_t *rows = read_manifest(manifest, &n);
  assert_int_equal(n, 4);
  for (size_t i = 0; i < 3; i++) {
    json_t *row = json_array_get(rows, i);
    assert_string_equal(json_string_value(json_object_get(row, "row")), "instance");
    assert_string_equal(json_string_value(json_object_get(row, "PatientID")), "P7");
    assert_string_equal(json_string_value(json_object_get(row, "AccessionNumber")), "A7");
    assert_string_equal(json_string_value(json_object_get(row, "StudyDate")), "20240202");
    assert_string_equal(json_string_value(json_object_get(row, "SOPInstanceUID")),
                        fx.items[i].sop_instance_uid);
    assert_int_equal(json_integer_value(json_object_get(row, "size")), fx.items[i].size);
    assert_int_equal(si_package_sha256_file(fx.paths[i], hex, &err), SI_OK);
    assert_string_equal(json_string_value(json_object_get(row, "sha256")), hex);
    char member[256];
    snprintf(member, sizeof member, "1.2.3/%s/%s.dcm", fx.items[i].series_uid,
             fx.items[i].sop_instance_uid);
    assert_string_equal(json_string_value(json_object_get(row, "path")), member);
  }
  json_t *b = json_array_get(rows, 3);
  assert_string_equal(json_string_value(json_object_get(b, "row")), "batch");
  assert_string_equal(json_string_value(json_object_get(b, "id")), "P7");
  assert_int_equal(json_integer_value(json_object_get(b, "IMAGE_COUNT")), 3);
  assert_string_equal(json_string_value(json_object_get(b, "UPLOAD_AGENT")), "sendit");
  assert_string_equal(json_string_value(json_object_get(b, "PatientSex")), "O");
  assert_string_equal(json_string_value(json_object_get(b, "archive")), "P7_20240202_A7.tar");
  assert_string_equal(json_string_value(json_object_get(b, "sha256")), res.sha256);
  assert_string_equal(json_string_value(json_object_get(b, "collection")), "coll");
  assert_string_equal(json_string_value(json_object_get(b, "batch_uid")), "2.25.99");
  json_decref(rows);
  /* Again: the same names replaced, the same bytes, nothing beside. */
  assert_int_equal(si_package_deliver(root, &fx.batch, &o, &again, &err), SI_OK);
  assert_string_equal(again.relative, res.relative);
  assert_string_equal(again.sha256, res.sha256);
  char *folder = si_path_join(root, "coll/P7");
  assert_int_equal(entries_in(folder), 2);
  assert_int_equal(count_partials(root), 0);
  free(folder);
  free(archive);
  free(dir);
  free(root);
}

static void test_failure_is_atomic(void **state) {
  (void)state;
  char *dir = scratch("atomic");
  char *root = scratch("atomic-root");
  batch_fixture fx;
  make_batch(&fx, dir, "P9", "A9", "20240303");
  si_package_options o = {.compression = SI_PACKAGE_NONE};
  si_package_result res;
  si_error err;
  assert_int_equal(si_package_deliver(root, &fx.batch, &o, &res, &err), SI_OK);
  char *archive = si_path_join(root, res.relative);
  char before[65];
  assert_int_equal(si_package_sha256_file(archive, before, &err), SI_OK);
  /* The last file vanishes: the re-run fails naming it, removes its
   * temporaries and leaves the older archive whole. */
  assert_int_equal(unlink(fx.paths[2]), 0);
  assert_int_not_equal(si_package_deliver(root, &fx.batch, &o, &res, &err), SI_OK);
  assert_non_null(strstr(err.file, "in2.dcm"));
  assert_int_equal(count_partials(root), 0);
  char after[65];
  assert_int_equal(si_package_sha256_file(archive, after, &err), SI_OK);
  assert_string_equal(before, after);
  /* A first package that fails leaves no archive at all. */
  char *root2 = scratch("atomic-root2");
  assert_int_not_equal(si_package_deliver(root2, &fx.batch, &o, &res, &err), SI_OK);
  char *folder = si_path_join(root2, "sendit/P9");
  assert_int_equal(entries_in(folder), 0);
  /* Cancelled: the same. */
  write_dicom(fx.paths[2], &fx.fakes[2]);
  atomic_int cancel = 1;
  o.cancel = &cancel;
  assert_int_equal(si_package_deliver(root2, &fx.batch, &o, &res, &err), SI_ERR_STATE);
  assert_int_equal(entries_in(folder), 0);
  free(folder);
  free(root2);
  free(archive);
  free(dir);
  free(root);
}

/* The engine resends only unconfirmed items: a subset the archive holds is
 * confirmed from the manifest without a rewrite; a set that would lose
 * instances is a conflict that writes nothing; a superset rewrites. */
static void test_resend(void **state) {
  (void)state;
  char *dir = scratch("resend");
  char *root = scratch("resend-root");
  batch_fixture fx;
  make_batch(&fx, dir, "PR", "AR", "20240505");
  si_package_options o = {.compression = SI_PACKAGE_NONE};
  si_package_result res, sub;
  si_error err;
  fx.batch.count = 2;
  assert_int_equal(si_package_deliver(root, &fx.batch, &o, &res, &err), SI_OK);
  assert_int_equal(res.reused, 0);
  char *archive = si_path_join(root, res.relative);
  struct stat before, after;
  assert_int_equal(stat(archive, &before), 0);
  /* The second item alone: reused, same answer, the file untouched. */
  si_dest_batch one = {.batch_uid = "2.25.99", .source = "deid", .items = &fx.items[1], .count = 1};
  assert_int_equal(si_package_deliver(root, &one, &o, &sub, &err), SI_OK);
  assert_int_equal(sub.reused, 1);
  assert_string_equal(sub.sha256, res.sha256);
  assert_string_equal(sub.relative, res.relative);
  assert_int_equal(stat(archive, &after), 0);
  assert_int_equal(after.st_ino, before.st_ino);
  /* Items 1 and 2: the archive lacks 2 and holds 0, which this lacks. */
  si_dest_batch mixed = {
      .batch_uid = "2.25.99", .source = "deid", .items = &fx.items[1], .count = 2};
  assert_int_equal(si_package_deliver(root, &mixed, &o, &sub, &err), SI_ERR_STATE);
  assert_int_equal(sub.conflict, 1);
  assert_non_null(strstr(err.message, "conflict"));
  assert_int_equal(stat(archive, &after), 0);
  assert_int_equal(after.st_ino, before.st_ino);
  assert_int_equal(count_partials(root), 0);
  /* All three: a superset, rewritten with three members. */
  fx.batch.count = 3;
  assert_int_equal(si_package_deliver(root, &fx.batch, &o, &sub, &err), SI_OK);
  assert_int_equal(sub.reused, 0);
  assert_int_equal(sub.members, 3);
  assert_string_not_equal(sub.sha256, res.sha256);
  free(archive);
  free(dir);
  free(root);
}

static void test_sha256_backends_agree(void **state) {
  (void)state;
  static const char *const abc = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
  for (int force = 0; force < 2; force++) {
    si_pkg_sha256 h;
    si_pkg_sha256_init(&h, force);
    si_pkg_sha256_update(&h, "a", 1);
    si_pkg_sha256_update(&h, "bc", 2);
    char hex[65];
    si_pkg_sha256_final(&h, hex);
    assert_string_equal(hex, abc);
  }
  print_message("sha256 backend: %s\n", si_pkg_sha256_backend());
}

static void test_compressions(void **state) {
  (void)state;
  char *dir = scratch("zstd");
  char *root = scratch("zstd-root");
  batch_fixture fx;
  make_batch(&fx, dir, "PZ", "AZ", "20240404");
  si_package_compression c;
  si_error err;
  assert_int_equal(si_package_compression_parse("zstd", &c, &err), SI_OK);
  assert_int_equal(c, SI_PACKAGE_ZSTD);
  assert_int_equal(si_package_compression_parse("xz", &c, &err), SI_ERR_VALUE);
  const struct {
    si_package_compression c;
    const char *rel;
    unsigned char magic[2];
  } cases[] = {{SI_PACKAGE_ZSTD, "sendit/PZ/PZ_20240404_AZ.tar.zst", {0x28, 0xb5}},
               {SI_PACKAGE_GZIP, "sendit/PZ/PZ_20240404_AZ.tar.gz", {0x1f, 0x8b}}};
  for (size_t i = 0; i < 2; i++) {
    si_package_options o = {.compression = cases[i].c};
    si_package_result res;
    assert_int_equal(si_package_deliver(root, &fx.batch, &o, &res, &err), SI_OK);
    assert_string_equal(res.relative, cases[i].rel);
    char *p = si_path_join(root, res.relative);
    size_t size;
    uint8_t *bytes = tu_read_file(p, &size);
    assert_non_null(bytes);
    assert_memory_equal(bytes, cases[i].magic, 2);
    free(bytes);
    free(p);
  }
  free(dir);
  free(root);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_sanitize),
      cmocka_unit_test(test_layout_check),
      cmocka_unit_test(test_hostile_headers_stay_below),
      cmocka_unit_test(test_symlinks_refused),
      cmocka_unit_test(test_manifest_and_rerun),
      cmocka_unit_test(test_failure_is_atomic),
      cmocka_unit_test(test_resend),
      cmocka_unit_test(test_sha256_backends_agree),
      cmocka_unit_test(test_compressions),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
