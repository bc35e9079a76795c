/* The leak scan, first half: collecting the identifying values of the
 * originals (sendit/deid_verify.h). Each value becomes a needle: its folded
 * text for decoded values, and for longer text its byte forms for raw
 * bytes. Needles are unique by (mode, folded text): the first original that
 * had a value is the one hits name. */
#include <iconv.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "deid/verify_internal.h"
#include "sendit/charset.h"
#include "sendit/dict.h"

void si_verify_options_init(si_verify_options *opts) { memset(opts, 0, sizeof *opts); }

si_status si_verify_new(const si_verify_options *opts, si_verify **out, si_error *err) {
  *out = NULL;
  si_verify *v = calloc(1, sizeof *v);
  if (!v)
    return si_error_set(err, SI_ERR_NOMEM, "", SI_NO_OFFSET, SI_NO_TAG, "out of memory");
  if (opts)
    v->opts = *opts;
  *out = v;
  return SI_OK;
}

void si_verify_free(si_verify *v) {
  if (!v)
    return;
  for (size_t i = 0; i < v->needle_count; i++) {
    free(v->needles[i].text);
    free(v->needles[i].folded);
    free(v->needles[i].origin_path);
  }
  free(v->needles);
  for (size_t i = 0; i < v->form_count; i++)
    free(v->forms[i].bytes);
  free(v->forms);
  for (size_t i = 0; i < VERIFY_BUCKETS; i++) {
    free(v->text_index[i].items);
    free(v->text_index3[i].items);
    free(v->raw_index[i].items);
  }
  free(v->hash);
  for (size_t i = 0; i < v->origin_count; i++)
    free(v->origins[i]);
  free(v->origins);
  free(v->allowed_tags);
  free(v->kept_tags);
  free(v);
}

static si_status nomem(si_error *err) {
  return si_error_set(err, SI_ERR_NOMEM, "", SI_NO_OFFSET, SI_NO_TAG, "out of memory");
}

si_status si_verify_allow_kind(si_verify *v, const char *kind, si_error *err) {
  const char *k = kind ? verify_kind_static(kind) : NULL;
  if (!k)
    return si_error_set(err, SI_ERR_ARG, "", SI_NO_OFFSET, SI_NO_TAG, "unknown kind '%s'",
                        kind ? kind : "");
  if (v->allowed_kind_count == sizeof v->allowed_kinds / sizeof v->allowed_kinds[0])
    return SI_OK; /* every kind is there already */
  v->allowed_kinds[v->allowed_kind_count++] = k;
  return SI_OK;
}

si_status si_verify_allow_tag(si_verify *v, uint32_t tag, si_error *err) {
  uint32_t *tags = realloc(v->allowed_tags, (v->allowed_tag_count + 1) * sizeof *tags);
  if (!tags)
    return nomem(err);
  tags[v->allowed_tag_count++] = tag;
  v->allowed_tags = tags;
  return SI_OK;
}

si_status si_verify_keep_tag(si_verify *v, uint32_t tag, si_error *err) {
  uint32_t *tags = realloc(v->kept_tags, (v->kept_tag_count + 1) * sizeof *tags);
  if (!tags)
    return nomem(err);
  tags[v->kept_tag_count++] = tag;
  v->kept_tags = tags;
  return SI_OK;
}

int verify_kept(const si_verify *v, uint32_t tag) {
  for (size_t i = 0; i < v->kept_tag_count; i++)
    if (v->kept_tags[i] == tag)
      return 1;
  return 0;
}

static int allowed(const si_verify *v, const char *kind, uint32_t tag) {
  for (size_t i = 0; i < v->allowed_kind_count; i++)
    if (v->allowed_kinds[i] == kind)
      return 1;
  for (size_t i = 0; i < v->allowed_tag_count; i++)
    if (v->allowed_tags[i] == tag)
      return 1;
  return 0;
}

size_t si_verify_value_count(const si_verify *v) { return v->needle_count; }

const char *si_verify_value_at(const si_verify *v, size_t i, const char **kind) {
  if (i >= v->needle_count)
    return NULL;
  if (kind)
    *kind = v->needles[i].kind;
  return v->needles[i].text;
}

/* ---- The needle table: open addressing keyed by (mode, folded text). ---- */

static size_t hash_of(verify_mode mode, const char *s, size_t len) {
  uint64_t h = 1469598103934665603ull ^ (uint64_t)mode;
  for (size_t i = 0; i < len; i++)
    h = (h ^ (uint8_t)s[i]) * 1099511628211ull;
  return (size_t)h;
}

/* Index of the needle, or SIZE_MAX. Used by the scan for tokens. */
size_t verify_find(const si_verify *v, verify_mode mode, const char *s, size_t len) {
  if (!v->hash_capacity)
    return SIZE_MAX;
  size_t mask = v->hash_capacity - 1;
  for (size_t i = hash_of(mode, s, len) & mask;; i = (i + 1) & mask) {
    size_t slot = v->hash[i];
    if (!slot)
      return SIZE_MAX;
    const verify_needle *n = &v->needles[slot - 1];
    if (n->mode == mode && n->folded_len == len && memcmp(n->folded, s, len) == 0)
      return slot - 1;
  }
}

static int hash_insert(si_verify *v, size_t index) {
  if ((v->needle_count + 1) * 2 > v->hash_capacity) {
    size_t cap = v->hash_capacity ? v->hash_capacity * 2 : 256;
    size_t *table = calloc(cap, sizeof *table);
    if (!table)
      return -1;
    for (size_t i = 0; i < v->hash_capacity; i++) {
      size_t slot = v->hash[i];
      if (!slot)
        continue;
      const verify_needle *n = &v->needles[slot - 1];
      size_t j = hash_of(n->mode, n->folded, n->folded_len) & (cap - 1);
      while (table[j])
        j = (j + 1) & (cap - 1);
      table[j] = slot;
    }
    free(v->hash);
    v->hash = table;
    v->hash_capacity = cap;
  }
  const verify_needle *n = &v->needles[index];
  size_t j = hash_of(n->mode, n->folded, n->folded_len) & (v->hash_capacity - 1);
  while (v->hash[j])
    j = (j + 1) & (v->hash_capacity - 1);
  v->hash[j] = index + 1;
  return 0;
}

/* One byte form of needle `needle`, lowered, unless it has it already. */
static int add_form(si_verify *v, size_t needle, const uint8_t *bytes, size_t len,
                    size_t first_form) {
  if (len < VERIFY_WORD_ONLY_BELOW)
    return 0;
  uint8_t *copy = malloc(len);
  if (!copy)
    return -1;
  for (size_t i = 0; i < len; i++)
    copy[i] = verify_lower(bytes[i]);
  for (size_t i = first_form; i < v->form_count; i++)
    if (v->forms[i].len == len && memcmp(v->forms[i].bytes, copy, len) == 0) {
      free(copy);
      return 0;
    }
  if (v->form_count == v->form_capacity) {
    size_t cap = v->form_capacity ? v->form_capacity * 2 : 64;
    verify_form *forms = realloc(v->forms, cap * sizeof *forms);
    if (!forms) {
      free(copy);
      return -1;
    }
    v->forms = forms;
    v->form_capacity = cap;
  }
  v->forms[v->form_count] = (verify_form){needle, copy, len};
  return verify_bucket_add(&v->raw_index[verify_bucket_of(copy, VERIFY_KEY)], v->form_count++);
}

/* The text in another encoding through iconv; 0 with *out NULL when it
 * cannot be represented there. */
static int recode(const char *to, const char *s, size_t len, char **out, size_t *out_len) {
  *out = NULL;
  iconv_t cd = iconv_open(to, "UTF-8");
  if (cd == (iconv_t)-1)
    return 0;
  size_t cap = len * 4 + 8, left = cap;
  char *buf = malloc(cap), *o = buf;
  char *in = (char *)s;
  size_t in_left = len;
  if (buf && iconv(cd, &in, &in_left, &o, &left) != (size_t)-1 && in_left == 0) {
    *out = buf;
    *out_len = cap - left;
  } else {
    free(buf);
  }
  iconv_close(cd);
  return 0;
}

/* The raw forms of a text needle: as written, lower and upper case, each in
 * UTF-8, ISO 8859-1 and UTF-16LE, and the original's own bytes. */
static int add_text_forms(si_verify *v, size_t index, const uint8_t *raw, size_t raw_len) {
  const verify_needle *n = &v->needles[index];
  size_t first = v->form_count, ulen = 0;
  char *upper = verify_fold(n->text, n->len, 1, &ulen);
  if (!upper)
    return -1;
  const char *variants[3] = {n->text, n->folded, upper};
  size_t lens[3] = {n->len, n->folded_len, ulen};
  static const char *const encodings[] = {"ISO-8859-1", "UTF-16LE"};
  int rc = 0;
  for (size_t i = 0; i < 3 && rc == 0; i++) {
    rc = add_form(v, index, (const uint8_t *)variants[i], lens[i], first);
    for (size_t e = 0; e < 2 && rc == 0; e++) {
      char *coded;
      size_t coded_len;
      recode(encodings[e], variants[i], lens[i], &coded, &coded_len);
      if (coded)
        rc = add_form(v, index, (const uint8_t *)coded, coded_len, first);
      free(coded);
    }
  }
  if (rc == 0 && raw && raw_len)
    rc = add_form(v, index, raw, raw_len, first);
  free(upper);
  return rc;
}

/* The rules against false positives (README): enough letters or digits, not
 * one repeated character, not a placeholder, digits-only long enough. A
 * character from U+3000 on (kana, CJK ideographs, Hangul: UTF-8 lead byte
 * 0xE3 and above) counts twice: "山田" names a family as "Lee" does. */
static int identifying(const char *text, size_t len, const char *folded, size_t folded_len,
                       verify_mode mode) {
  size_t alnum = 0;
  int same = 1;
  for (size_t i = 0; i < len; i++) {
    uint8_t c = (uint8_t)text[i];
    if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c >= 0xC0)
      alnum += c >= 0xE3 ? 2 : 1;
    if (verify_lower(c) != verify_lower((uint8_t)text[0]))
      same = 0;
  }
  if (alnum < VERIFY_MIN_CHARS || same)
    return 0;
  if (mode == VERIFY_NUMBER && len < VERIFY_MIN_DIGITS)
    return 0;
  return !verify_is_common(folded, folded_len);
}

static int is_pad(char c) { return c == ' ' || c == '\0' || c == '\t' || c == '\r' || c == '\n'; }

/* Adds one value (trimmed here) with its original bytes (may be NULL). */
static si_status add_needle(si_verify *v, const char *text, size_t len, const uint8_t *raw,
                            size_t raw_len, const char *kind, uint32_t tag, size_t origin,
                            const char *origin_path, si_error *err) {
  /* A NUL inside a value ends it (what follows is padding or garbage, and the
   * value must stay a C string for hits). */
  len = strnlen(text, len);
  while (len && is_pad(text[0]))
    text++, len--;
  while (len && is_pad(text[len - 1]))
    len--;
  while (raw_len && is_pad((char)raw[0]))
    raw++, raw_len--;
  while (raw_len && is_pad((char)raw[raw_len - 1]))
    raw_len--;
  if (allowed(v, kind, tag) || len == 0)
    return SI_OK;
  verify_mode mode = verify_mode_of(text, len);
  size_t folded_len;
  char *folded = verify_fold(text, len, 0, &folded_len);
  if (!folded)
    return nomem(err);
  /* A registered UID (a well-known palette, a coding scheme) is the same
   * in every file of every site: not identifying. */
  char uid_text[65];
  if (mode == VERIFY_UID && len < sizeof uid_text) {
    memcpy(uid_text, text, len);
    uid_text[len] = '\0';
    if (si_uid_name(uid_text)) {
      free(folded);
      return SI_OK;
    }
  }
  if (!identifying(text, len, folded, folded_len, mode) ||
      verify_find(v, mode, folded, folded_len) != SIZE_MAX) {
    free(folded);
    return SI_OK;
  }
  if (v->needle_count == v->needle_capacity) {
    size_t cap = v->needle_capacity ? v->needle_capacity * 2 : 64;
    verify_needle *needles = realloc(v->needles, cap * sizeof *needles);
    if (!needles) {
      free(folded);
      return nomem(err);
    }
    v->needles = needles;
    v->needle_capacity = cap;
  }
  verify_needle *n = &v->needles[v->needle_count];
  *n = (verify_needle){strndup(text, len),
                       len,
                       folded,
                       folded_len,
                       mode,
                       kind,
                       origin,
                       strdup(origin_path ? origin_path : "")};
  if (!n->text || !n->origin_path) {
    free(n->text);
    free(n->origin_path);
    free(folded);
    return nomem(err);
  }
  size_t index = v->needle_count++;
  if (hash_insert(v, index) != 0)
    return nomem(err);
  if (mode == VERIFY_TEXT) {
    verify_bucket *b = folded_len >= VERIFY_KEY
                           ? &v->text_index[verify_bucket_of((const uint8_t *)folded, VERIFY_KEY)]
                           : &v->text_index3[verify_bucket_of((const uint8_t *)folded, 3)];
    if (verify_bucket_add(b, index) != 0 ||
        (folded_len >= VERIFY_WORD_ONLY_BELOW && add_text_forms(v, index, raw, raw_len) != 0))
      return nomem(err);
  }
  return SI_OK;
}

/* A decoded value split as its VR asks: PN values also give their family,
 * given and middle name components (of every component group); DT values
 * their date. */
static si_status add_decoded(si_verify *v, si_vr vr, const char *text, size_t len,
                             const uint8_t *raw, size_t raw_len, const char *kind, uint32_t tag,
                             size_t origin, const char *path, si_error *err) {
  int multi = si_vr_is_multivalued_string(vr) || vr == SI_VR_NONE;
  size_t start = 0, raw_start = 0;
  for (size_t i = 0; i <= len; i++) {
    if (i < len && !(multi && text[i] == '\\'))
      continue;
    const char *value = text + start;
    size_t vlen = i - start;
    /* The same value's bytes in the original, when splitting agrees. */
    const uint8_t *rv = NULL;
    size_t rlen = 0;
    if (raw) {
      size_t r = raw_start;
      while (r < raw_len && !(multi && raw[r] == '\\'))
        r++;
      rv = raw + raw_start;
      rlen = r - raw_start;
      raw_start = r < raw_len ? r + 1 : raw_len;
    }
    si_status st = add_needle(v, value, vlen, rv, rlen, kind, tag, origin, path, err);
    if (st == SI_OK && vr == SI_VR_DT && verify_date_valid(value, vlen))
      st = add_needle(v, value, 8, NULL, 0, kind, tag, origin, path, err);
    if (st == SI_OK && vr == SI_VR_PN) {
      /* Components: split at '=' (groups) and '^' (components); prefix and
       * suffix (titles, "Dr", "Jr") are left out. */
      size_t c0 = 0, component = 0;
      for (size_t j = 0; j <= vlen && st == SI_OK; j++) {
        if (j < vlen && value[j] != '^' && value[j] != '=')
          continue;
        if (component < 3 && j - c0 < vlen)
          st = add_needle(v, value + c0, j - c0, NULL, 0, kind, tag, origin, path, err);
        component = (j < vlen && value[j] == '=') ? 0 : component + 1;
        c0 = j + 1;
      }
    }
    if (st != SI_OK)
      return st;
    start = i + 1;
  }
  return SI_OK;
}

/* ---- Walking an original ---- */

typedef struct collect_ctx {
  si_verify *v;
  size_t origin;
  const char *name;
  char path[2048];
  char cs_raw[128]; /* the character set cs was opened for */
  si_charset *cs;
  int cs_open;
} collect_ctx;

static const si_charset *charset_for(collect_ctx *c, const si_dataset *ds) {
  size_t len = 0;
  const char *raw = si_dataset_charset_raw(ds, &len);
  if (len >= sizeof c->cs_raw)
    len = sizeof c->cs_raw - 1;
  if (c->cs_open && strlen(c->cs_raw) == len && memcmp(c->cs_raw, raw, len) == 0)
    return c->cs;
  si_charset_close(c->cs);
  c->cs = NULL;
  memcpy(c->cs_raw, raw, len);
  c->cs_raw[len] = '\0';
  c->cs_open = 1;
  /* An unknown character set decodes as the default repertoire: the raw
   * forms still hold the original's own bytes. */
  if (si_charset_open(raw, len, &c->cs, NULL) != SI_OK)
    c->cs = NULL;
  return c->cs;
}

static si_status collect_ds(collect_ctx *c, const si_dataset *ds, size_t prefix, si_error *err) {
  size_t count = si_dataset_count(ds);
  for (size_t i = 0; i < count; i++) {
    const si_element *el = si_dataset_at(ds, i);
    int n = snprintf(c->path + prefix, sizeof c->path - prefix, "(%04X,%04X)",
                     SI_TAG_GROUP(el->tag), SI_TAG_ELEMENT(el->tag));
    size_t here = prefix + (n > 0 ? (size_t)n : 0);
    if (here >= sizeof c->path - 16)
      here = prefix; /* absurdly deep: paths are cut, values still collected */
    if (el->vr == SI_VR_SQ || el->items) {
      for (size_t k = 0; k < el->item_count; k++) {
        int m = snprintf(c->path + here, sizeof c->path - here, "[%zu].", k);
        si_status st = collect_ds(c, el->items[k], here + (m > 0 ? (size_t)m : 0), err);
        if (st != SI_OK)
          return st;
      }
      continue;
    }
    const char *kind = (SI_TAG_GROUP(el->tag) & 1) ? NULL : verify_tag_kind(el->tag);
    if (!kind && c->v->opts.event_dates && (el->vr == SI_VR_DA || el->vr == SI_VR_DT))
      kind = "date";
    if (!kind || !el->value || !el->value_len)
      continue;
    char *text = NULL;
    size_t len = 0;
    si_vr vr = el->vr == SI_VR_UN ? si_dict_implicit_vr(el->tag) : el->vr;
    const si_charset *cs = si_vr_is_text(vr) ? charset_for(c, ds) : NULL;
    if (si_charset_decode(cs, vr, el->value, el->value_len, &text, &len, err) != SI_OK)
      return err ? err->code : SI_ERR_NOMEM;
    c->path[here] = '\0';
    si_status st = SI_OK;
    if (kind == verify_kind_static("date") || vr == SI_VR_DA) {
      /* Dates count as dates only: "YYYYMMDD" values (a DA range's ends too). */
      for (size_t s = 0; s + 8 <= len && st == SI_OK; s++)
        if ((s == 0 || text[s - 1] == '\\' || text[s - 1] == '-') &&
            verify_date_valid(text + s, len - s))
          st = add_needle(c->v, text + s, 8, NULL, 0, kind, el->tag, c->origin, c->path, err);
    } else {
      st = add_decoded(c->v, vr, text, len, el->value, el->value_len, kind, el->tag, c->origin,
                       c->path, err);
    }
    free(text);
    if (st != SI_OK)
      return st;
  }
  return SI_OK;
}

static si_status add_origin(si_verify *v, const char *name, size_t *origin, si_error *err) {
  if (v->origin_count == v->origin_capacity) {
    size_t cap = v->origin_capacity ? v->origin_capacity * 2 : 16;
    char **origins = realloc(v->origins, cap * sizeof *origins);
    if (!origins)
      return nomem(err);
    v->origins = origins;
    v->origin_capacity = cap;
  }
  char *copy = strdup(name ? name : "");
  if (!copy)
    return nomem(err);
  v->origins[v->origin_count] = copy;
  *origin = v->origin_count++;
  return SI_OK;
}

const char *verify_origin_name(const si_verify *v, size_t origin) {
  return origin < v->origin_count ? v->origins[origin] : "";
}

si_status si_verify_collect(si_verify *v, const si_file *file, const char *name, size_t *origin,
                            si_error *err) {
  collect_ctx *c = calloc(1, sizeof *c);
  if (!c)
    return nomem(err);
  c->v = v;
  c->name = name;
  si_status st = add_origin(v, name, &c->origin, err);
  if (st == SI_OK)
    st = collect_ds(c, si_file_meta(file), 0, err);
  if (st == SI_OK)
    st = collect_ds(c, si_file_dataset(file), 0, err);
  if (st == SI_OK && origin)
    *origin = c->origin;
  si_charset_close(c->cs);
  free(c);
  return st;
}

si_status si_verify_collect_path(si_verify *v, const char *path, size_t *origin, si_error *err) {
  si_file *file = NULL;
  si_status st = si_read_file(path, NULL, &file, err);
  if (st != SI_OK)
    return st;
  st = si_verify_collect(v, file, path, origin, err);
  si_file_free(file);
  return st;
}

si_status si_verify_add_value(si_verify *v, size_t origin, uint32_t tag, const char *text,
                              si_error *err) {
  if (!text)
    return SI_OK;
  const si_dict_entry *entry = tag == SI_NO_TAG ? NULL : si_dict_lookup(tag);
  si_vr vr = entry ? entry->vr : SI_VR_NONE;
  char path[16] = "";
  if (tag != SI_NO_TAG)
    snprintf(path, sizeof path, "(%04X,%04X)", SI_TAG_GROUP(tag), SI_TAG_ELEMENT(tag));
  return add_decoded(v, vr, text, strlen(text), NULL, 0, verify_kind_static("replaced"), tag,
                     origin < v->origin_count ? origin : SIZE_MAX, path, err);
}

si_status si_verify_add_report(si_verify *v, size_t origin, const si_deid_report *report,
                               si_error *err) {
  for (size_t i = 0; report && i < report->value_count; i++) {
    si_status st =
        si_verify_add_value(v, origin, report->values[i].tag, report->values[i].text, err);
    if (st != SI_OK)
      return st;
  }
  return SI_OK;
}
