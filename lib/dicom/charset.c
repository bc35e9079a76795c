/* Specific Character Set decoding (PS3.3 C.12.1.1.2, PS3.5 6.1).
 *
 * Model: every ISO 2022 style repertoire is decoded by one state machine that
 * tracks which graphic set is designated to G0 (bytes 0x21-0x7E) and G1 (bytes
 * 0xA1-0xFE). Escape sequences change the designations; the delimiters of PS3.5
 * 6.1.2.5.3 reset them to those of value 1. ISO_IR 192, GB18030 and GBK have no
 * code extensions and are decoded as one stream.
 *
 * Leniency, because intake must keep going on real-world files: every escape
 * sequence that DICOM defines is honoured even when its term was not declared;
 * bytes >0x7F with nothing designated to G1 decode as Latin-1 (or as the G1 set a
 * later value declares, which catches EUC-KR written without escapes); term
 * spelling ignores case, spaces, '_' and '-'.
 *
 * Threading: an si_charset caches iconv handles and lookup tables, filled by
 * si_charset_decode on first use. iconv handles carry conversion state, so one
 * object must be used by one thread at a time (open one per thread). */
#include "sendit/charset.h"

#include <errno.h>
#include <iconv.h>
#include <stdlib.h>
#include <string.h>

#define SI_REPLACEMENT 0xFFFDu
#define SI_ESC 0x1B
/* Longest term worth comparing; longer values cannot be defined terms. */
#define SI_TERM_MAX 32
/* Double-byte characters handed to iconv per call; bounds a stack buffer. */
#define SI_DB_CHUNK 128

typedef enum si_mode { SI_MODE_2022, SI_MODE_UTF8, SI_MODE_GB18030, SI_MODE_GBK } si_mode;

/* Graphic character sets that an escape sequence or a term can designate. */
typedef enum si_set {
  SI_SET_NONE, /* nothing designated to G1: decoded as Latin-1 */
  SI_SET_ASCII,
  SI_SET_ROMAJI,
  SI_SET_KATAKANA,
  SI_SET_LATIN1,
  SI_SET_LATIN2,
  SI_SET_LATIN3,
  SI_SET_LATIN4,
  SI_SET_CYRILLIC,
  SI_SET_ARABIC,
  SI_SET_GREEK,
  SI_SET_HEBREW,
  SI_SET_LATIN5,
  SI_SET_LATIN9,
  SI_SET_THAI,
  SI_SET_JISX0208,
  SI_SET_JISX0212,
  SI_SET_KSX1001,
  SI_SET_GB2312,
  SI_SET_COUNT
} si_set;

typedef enum si_kind { SI_K_ASCII, SI_K_LATIN1, SI_K_TABLE, SI_K_KATAKANA, SI_K_DB94 } si_kind;

/* iconv converters kept open in the cache. */
typedef enum si_conv {
  SI_CONV_EUCJP,
  SI_CONV_EUCKR,
  SI_CONV_EUCCN,
  SI_CONV_SJIS,
  SI_CONV_GB18030,
  SI_CONV_GBK,
  SI_CONV_COUNT
} si_conv;

static const char *const si_conv_names[SI_CONV_COUNT] = {
    [SI_CONV_EUCJP] = "EUC-JP",   [SI_CONV_EUCKR] = "EUC-KR",    [SI_CONV_EUCCN] = "EUC-CN",
    [SI_CONV_SJIS] = "SHIFT_JIS", [SI_CONV_GB18030] = "GB18030", [SI_CONV_GBK] = "GBK",
};

/* The 94x94 sets are fed to iconv in their EUC form: both bytes with the high
 * bit set, JIS X 0212 behind the SS3 prefix 0x8F. */
static const struct {
  unsigned char kind;
  unsigned char g1; /* designated to G1 (else G0) */
  unsigned char conv;
  unsigned char prefix;
  const char *iconv_name; /* single-byte sets: source of the lookup table */
} si_sets[SI_SET_COUNT] = {
    [SI_SET_NONE] = {SI_K_LATIN1, 1, 0, 0, NULL},
    [SI_SET_ASCII] = {SI_K_ASCII, 0, 0, 0, NULL},
    [SI_SET_ROMAJI] = {SI_K_ASCII, 0, 0, 0, NULL},
    [SI_SET_KATAKANA] = {SI_K_KATAKANA, 1, SI_CONV_SJIS, 0, NULL},
    [SI_SET_LATIN1] = {SI_K_LATIN1, 1, 0, 0, NULL},
    [SI_SET_LATIN2] = {SI_K_TABLE, 1, 0, 0, "ISO-8859-2"},
    [SI_SET_LATIN3] = {SI_K_TABLE, 1, 0, 0, "ISO-8859-3"},
    [SI_SET_LATIN4] = {SI_K_TABLE, 1, 0, 0, "ISO-8859-4"},
    [SI_SET_CYRILLIC] = {SI_K_TABLE, 1, 0, 0, "ISO-8859-5"},
    [SI_SET_ARABIC] = {SI_K_TABLE, 1, 0, 0, "ISO-8859-6"},
    [SI_SET_GREEK] = {SI_K_TABLE, 1, 0, 0, "ISO-8859-7"},
    [SI_SET_HEBREW] = {SI_K_TABLE, 1, 0, 0, "ISO-8859-8"},
    [SI_SET_LATIN5] = {SI_K_TABLE, 1, 0, 0, "ISO-8859-9"},
    [SI_SET_LATIN9] = {SI_K_TABLE, 1, 0, 0, "ISO-8859-15"},
    /* ISO-8859-11 is TIS-620 plus NBSP at 0xA0, so it loses nothing. */
    [SI_SET_THAI] = {SI_K_TABLE, 1, 0, 0, "ISO-8859-11"},
    [SI_SET_JISX0208] = {SI_K_DB94, 0, SI_CONV_EUCJP, 0, NULL},
    [SI_SET_JISX0212] = {SI_K_DB94, 0, SI_CONV_EUCJP, 0x8F, NULL},
    [SI_SET_KSX1001] = {SI_K_DB94, 1, SI_CONV_EUCKR, 0, NULL},
    [SI_SET_GB2312] = {SI_K_DB94, 1, SI_CONV_EUCCN, 0, NULL},
};

/* Escape sequences of PS3.3 Tables C.12-3 and C.12-4, without the ESC. */
static const struct {
  char seq[4];
  unsigned char len;
  unsigned char set;
} si_escapes[] = {
    {"(B", 2, SI_SET_ASCII},
    {"(J", 2, SI_SET_ROMAJI},
    {")I", 2, SI_SET_KATAKANA},
    {"-A", 2, SI_SET_LATIN1},
    {"-B", 2, SI_SET_LATIN2},
    {"-C", 2, SI_SET_LATIN3},
    {"-D", 2, SI_SET_LATIN4},
    {"-L", 2, SI_SET_CYRILLIC},
    {"-G", 2, SI_SET_ARABIC},
    {"-F", 2, SI_SET_GREEK},
    {"-H", 2, SI_SET_HEBREW},
    {"-M", 2, SI_SET_LATIN5},
    {"-b", 2, SI_SET_LATIN9},
    {"-T", 2, SI_SET_THAI},
    {"$B", 2, SI_SET_JISX0208},
    /* JIS C 6226-1978: older ISO-2022-JP writers use it for the same kanji. */
    {"$@", 2, SI_SET_JISX0208},
    {"$(D", 3, SI_SET_JISX0212},
    {"$)C", 3, SI_SET_KSX1001},
    {"$)A", 3, SI_SET_GB2312},
};

enum { SI_FORM_PLAIN = 1, SI_FORM_2022 = 2, SI_FORM_BOTH = 3 };

/* Defined terms by ISO-IR number. Multi-byte G0 sets (87, 159) never become the
 * initial G0: the delimiters must stay ASCII, so they start on escape only. */
static const struct {
  unsigned short ir;
  unsigned char forms;
  unsigned char mode;
  unsigned char g0, g1;
} si_terms[] = {
    {6, SI_FORM_BOTH, SI_MODE_2022, SI_SET_ASCII, SI_SET_NONE},
    {100, SI_FORM_BOTH, SI_MODE_2022, SI_SET_ASCII, SI_SET_LATIN1},
    {101, SI_FORM_BOTH, SI_MODE_2022, SI_SET_ASCII, SI_SET_LATIN2},
    {109, SI_FORM_BOTH, SI_MODE_2022, SI_SET_ASCII, SI_SET_LATIN3},
    {110, SI_FORM_BOTH, SI_MODE_2022, SI_SET_ASCII, SI_SET_LATIN4},
    {144, SI_FORM_BOTH, SI_MODE_2022, SI_SET_ASCII, SI_SET_CYRILLIC},
    {127, SI_FORM_BOTH, SI_MODE_2022, SI_SET_ASCII, SI_SET_ARABIC},
    {126, SI_FORM_BOTH, SI_MODE_2022, SI_SET_ASCII, SI_SET_GREEK},
    {138, SI_FORM_BOTH, SI_MODE_2022, SI_SET_ASCII, SI_SET_HEBREW},
    {148, SI_FORM_BOTH, SI_MODE_2022, SI_SET_ASCII, SI_SET_LATIN5},
    {203, SI_FORM_BOTH, SI_MODE_2022, SI_SET_ASCII, SI_SET_LATIN9},
    {166, SI_FORM_BOTH, SI_MODE_2022, SI_SET_ASCII, SI_SET_THAI},
    {13, SI_FORM_BOTH, SI_MODE_2022, SI_SET_ROMAJI, SI_SET_KATAKANA},
    {87, SI_FORM_2022, SI_MODE_2022, SI_SET_ASCII, SI_SET_NONE},
    {159, SI_FORM_2022, SI_MODE_2022, SI_SET_ASCII, SI_SET_NONE},
    {149, SI_FORM_2022, SI_MODE_2022, SI_SET_ASCII, SI_SET_KSX1001},
    {58, SI_FORM_2022, SI_MODE_2022, SI_SET_ASCII, SI_SET_GB2312},
    {192, SI_FORM_PLAIN, SI_MODE_UTF8, SI_SET_ASCII, SI_SET_NONE},
};

typedef struct si_cs_cache {
  iconv_t cd[SI_CONV_COUNT];     /* (iconv_t)-1 until first use */
  uint16_t *table[SI_SET_COUNT]; /* code points of bytes 0x80-0xFF, NULL until first use */
} si_cs_cache;

struct si_charset {
  si_mode mode;
  unsigned char g0, g1; /* initial designations, restored at delimiters */
  int utf8_compatible;
  /* Behind a pointer so that decode can fill it through a const si_charset. */
  si_cs_cache *cache;
};

/* ---- output buffer ---------------------------------------------------- */

typedef struct si_sbuf {
  char *p;
  size_t len, cap; /* cap always leaves room for the final NUL */
  int failed;
} si_sbuf;

static int si_sb_reserve(si_sbuf *b, size_t extra) {
  if (b->failed)
    return 0;
  if (extra < b->cap - b->len)
    return 1;
  if (extra > SIZE_MAX / 2 - b->len - 16) {
    b->failed = 1;
    return 0;
  }
  size_t cap = b->cap ? b->cap : 16;
  while (cap - b->len <= extra)
    cap *= 2;
  char *p = realloc(b->p, cap);
  if (!p) {
    b->failed = 1;
    return 0;
  }
  b->p = p;
  b->cap = cap;
  return 1;
}

static void si_sb_bytes(si_sbuf *b, const void *src, size_t n) {
  if (n == 0 || !si_sb_reserve(b, n))
    return;
  memcpy(b->p + b->len, src, n);
  b->len += n;
}

static void si_sb_cp(si_sbuf *b, uint32_t cp) {
  unsigned char u[4];
  size_t n;
  if (cp < 0x80) {
    u[0] = (unsigned char)cp;
    n = 1;
  } else if (cp < 0x800) {
    u[0] = (unsigned char)(0xC0 | (cp >> 6));
    u[1] = (unsigned char)(0x80 | (cp & 0x3F));
    n = 2;
  } else if (cp < 0x10000) {
    u[0] = (unsigned char)(0xE0 | (cp >> 12));
    u[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
    u[2] = (unsigned char)(0x80 | (cp & 0x3F));
    n = 3;
  } else {
    u[0] = (unsigned char)(0xF0 | (cp >> 18));
    u[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
    u[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
    u[3] = (unsigned char)(0x80 | (cp & 0x3F));
    n = 4;
  }
  si_sb_bytes(b, u, n);
}

/* ---- UTF-8 ------------------------------------------------------------ */

/* Length of the well-formed sequence at p (Unicode Table 3-7), with *ok set; or
 * of its maximal ill-formed prefix with *ok cleared, so each such prefix becomes
 * one U+FFFD as Unicode recommends (and as Python and browsers do). */
static size_t si_utf8_seq(const uint8_t *p, size_t n, int *ok) {
  uint8_t b = p[0], lo = 0x80, hi = 0xBF;
  size_t need;
  *ok = 0;
  if (b < 0x80) {
    *ok = 1;
    return 1;
  }
  if (b >= 0xC2 && b <= 0xDF)
    need = 1;
  else if (b >= 0xE0 && b <= 0xEF)
    need = 2;
  else if (b >= 0xF0 && b <= 0xF4)
    need = 3;
  else
    return 1;
  if (b == 0xE0)
    lo = 0xA0; /* overlong */
  else if (b == 0xED)
    hi = 0x9F; /* surrogates */
  else if (b == 0xF0)
    lo = 0x90; /* overlong */
  else if (b == 0xF4)
    hi = 0x8F; /* above U+10FFFF */
  for (size_t i = 1; i <= need; i++) {
    if (i >= n || p[i] < lo || p[i] > hi)
      return i;
    lo = 0x80;
    hi = 0xBF;
  }
  *ok = 1;
  return need + 1;
}

/* ---- decoder state ---------------------------------------------------- */

typedef struct si_dec {
  const uint8_t *in;
  size_t len;
  int reset_backslash, reset_pn;
  unsigned char g0, g1, init_g0, init_g1;
  si_cs_cache *cache;
  int own_cache;
  si_sbuf out;
  si_status st;
  si_error *err;
} si_dec;

static int si_dec_ok(const si_dec *d) { return d->st == SI_OK && !d->out.failed; }

static si_cs_cache *si_cache_new(void) {
  si_cs_cache *c = calloc(1, sizeof *c);
  if (!c)
    return NULL;
  for (int i = 0; i < SI_CONV_COUNT; i++)
    c->cd[i] = (iconv_t)-1;
  return c;
}

static void si_cache_free(si_cs_cache *c) {
  if (!c)
    return;
  for (int i = 0; i < SI_CONV_COUNT; i++)
    if (c->cd[i] != (iconv_t)-1)
      iconv_close(c->cd[i]);
  for (int i = 0; i < SI_SET_COUNT; i++)
    free(c->table[i]);
  free(c);
}

/* Objects of the default repertoire carry no cache (keeps open cheap), and cs
 * may be NULL: an escape sequence met there gets a cache for this call only. */
static si_cs_cache *si_dec_cache(si_dec *d) {
  if (d->cache)
    return d->cache;
  d->cache = si_cache_new();
  if (!d->cache) {
    d->out.failed = 1;
    return NULL;
  }
  d->own_cache = 1;
  return d->cache;
}

static iconv_t si_dec_conv(si_dec *d, si_conv conv) {
  si_cs_cache *c = si_dec_cache(d);
  if (!c)
    return (iconv_t)-1;
  if (c->cd[conv] == (iconv_t)-1) {
    c->cd[conv] = iconv_open("UTF-8", si_conv_names[conv]);
    if (c->cd[conv] == (iconv_t)-1)
      d->st = si_error_set(d->err, SI_ERR_UNSUPPORTED, NULL, SI_NO_OFFSET, SI_NO_TAG,
                           "iconv cannot convert %s to UTF-8", si_conv_names[conv]);
  }
  return c->cd[conv];
}

/* Converts n bytes made of `unit`-byte characters (unit 1: variable width).
 * Each character iconv rejects becomes one U+FFFD. */
static void si_dec_iconv(si_dec *d, si_conv conv, const char *src, size_t n, size_t unit) {
  iconv_t cd = si_dec_conv(d, conv);
  if (cd == (iconv_t)-1)
    return;
  iconv(cd, NULL, NULL, NULL, NULL);
  char *ip = (char *)src;
  size_t left = n, want = n + 16;
  while (left > 0 && si_sb_reserve(&d->out, want)) {
    char *op = d->out.p + d->out.len;
    size_t room = d->out.cap - d->out.len - 1;
    size_t r = iconv(cd, &ip, &left, &op, &room);
    d->out.len = (size_t)(op - d->out.p);
    if (r != (size_t)-1)
      break;
    if (errno == E2BIG) {
      want = (d->out.cap - d->out.len) * 2;
      continue;
    }
    si_sb_cp(&d->out, SI_REPLACEMENT);
    size_t skip = unit - (n - left) % unit;
    if (skip > left)
      skip = left;
    ip += skip;
    left -= skip;
    iconv(cd, NULL, NULL, NULL, NULL);
  }
}

/* One byte of a single-byte set through iconv; U+FFFD when unassigned. */
static uint16_t si_table_entry(iconv_t cd, uint8_t b) {
  char in = (char)b, u[8];
  char *ip = &in, *op = u;
  size_t il = 1, ol = sizeof u;
  int ok = 0;
  iconv(cd, NULL, NULL, NULL, NULL);
  if (iconv(cd, &ip, &il, &op, &ol) == (size_t)-1)
    return SI_REPLACEMENT;
  size_t n = (size_t)(op - u);
  const uint8_t *p = (const uint8_t *)u;
  /* ISO 8859 lies in the BMP; anything longer would not fit the table. */
  if (n == 0 || n > 3 || si_utf8_seq(p, n, &ok) != n || !ok)
    return SI_REPLACEMENT;
  if (n == 1)
    return p[0];
  if (n == 2)
    return (uint16_t)(((p[0] & 0x1Fu) << 6) | (p[1] & 0x3Fu));
  return (uint16_t)(((p[0] & 0x0Fu) << 12) | ((p[1] & 0x3Fu) << 6) | (p[2] & 0x3Fu));
}

/* Tables instead of iconv per value: a lookup per byte is cheaper than an
 * iconv call, and it is built once per object on first use. */
static const uint16_t *si_dec_table(si_dec *d, si_set set) {
  si_cs_cache *c = si_dec_cache(d);
  if (!c || c->table[set])
    return c ? c->table[set] : NULL;
  iconv_t cd = iconv_open("UTF-8", si_sets[set].iconv_name);
  if (cd == (iconv_t)-1) {
    d->st = si_error_set(d->err, SI_ERR_UNSUPPORTED, NULL, SI_NO_OFFSET, SI_NO_TAG,
                         "iconv cannot convert %s to UTF-8", si_sets[set].iconv_name);
    return NULL;
  }
  uint16_t *t = malloc(128 * sizeof *t);
  for (int b = 0x80; t && b <= 0xFF; b++)
    t[b - 0x80] = si_table_entry(cd, (uint8_t)b);
  iconv_close(cd);
  if (!t)
    d->out.failed = 1;
  c->table[set] = t;
  return t;
}

static void si_dec_reset(si_dec *d) {
  d->g0 = d->init_g0;
  d->g1 = d->init_g1;
}

/* PS3.5 6.1.2.5.3: C0 controls other than ESC always reset; backslash and the
 * PN delimiters only when they are real delimiters of this VR. */
static int si_dec_is_delimiter(const si_dec *d, uint8_t b) {
  if (b < 0x20)
    return b != SI_ESC;
  if (b == '\\')
    return d->reset_backslash;
  return d->reset_pn && (b == '^' || b == '=');
}

/* ---- ISO 2022 --------------------------------------------------------- */

/* Applies the escape sequence at i; returns the index after it. Unknown but
 * well-formed sequences (ESC, intermediates 0x20-0x2F, final 0x30-0x7E) are
 * dropped as one U+FFFD; a malformed one loses only the ESC. */
static size_t si_dec_escape(si_dec *d, size_t i) {
  size_t rest = d->len - i - 1;
  for (size_t k = 0; k < sizeof si_escapes / sizeof si_escapes[0]; k++) {
    size_t n = si_escapes[k].len;
    if (n <= rest && memcmp(d->in + i + 1, si_escapes[k].seq, n) == 0) {
      si_set set = (si_set)si_escapes[k].set;
      if (si_sets[set].g1)
        d->g1 = (unsigned char)set;
      else
        d->g0 = (unsigned char)set;
      return i + 1 + n;
    }
  }
  si_sb_cp(&d->out, SI_REPLACEMENT);
  size_t j = i + 1;
  while (j < d->len && d->in[j] >= 0x20 && d->in[j] <= 0x2F)
    j++;
  if (j > i + 1 && j < d->len && d->in[j] >= 0x30 && d->in[j] <= 0x7E)
    return j + 1;
  return i + 1;
}

/* Decodes the run of 94x94 characters at i whose bytes lie in [lo, hi];
 * returns the index after it. A byte without its partner is one U+FFFD. */
static size_t si_dec_db94(si_dec *d, si_set set, size_t i, uint8_t lo, uint8_t hi) {
  char euc[3 * SI_DB_CHUNK];
  size_t n = 0, count = 0;
  uint8_t prefix = si_sets[set].prefix;
  while (count < SI_DB_CHUNK && i + 1 < d->len && d->in[i] >= lo && d->in[i] <= hi &&
         d->in[i + 1] >= lo && d->in[i + 1] <= hi) {
    if (prefix)
      euc[n++] = (char)prefix;
    euc[n++] = (char)(d->in[i] | 0x80);
    euc[n++] = (char)(d->in[i + 1] | 0x80);
    i += 2;
    count++;
  }
  if (count == 0) {
    si_sb_cp(&d->out, SI_REPLACEMENT);
    return i + 1;
  }
  si_dec_iconv(d, (si_conv)si_sets[set].conv, euc, n, prefix ? 3 : 2);
  return i;
}

/* JIS X 0201 katakana; a Shift_JIS pair is accepted too, since Japanese
 * writers often label Shift_JIS text as ISO_IR 13 (pydicom decodes it alike). */
static size_t si_dec_katakana(si_dec *d, size_t i) {
  uint8_t b = d->in[i];
  if (b >= 0xA1 && b <= 0xDF) {
    si_sb_cp(&d->out, 0xFF61u + (b - 0xA1u));
    return i + 1;
  }
  int lead = (b >= 0x81 && b <= 0x9F) || (b >= 0xE0 && b <= 0xFC);
  uint8_t t = i + 1 < d->len ? d->in[i + 1] : 0;
  if (lead && t >= 0x40 && t <= 0xFC && t != 0x7F) {
    si_dec_iconv(d, SI_CONV_SJIS, (const char *)d->in + i, 2, 2);
    return i + 2;
  }
  si_sb_cp(&d->out, SI_REPLACEMENT);
  return i + 1;
}

static size_t si_dec_gl(si_dec *d, size_t i) {
  uint8_t b = d->in[i];
  if (si_sets[d->g0].kind == SI_K_DB94) {
    /* Delimiters are not looked for here: in a 94x94 set they are halves of
     * characters, and PS3.5 requires a return to ASCII before them. */
    if (b == ' ') {
      si_sb_bytes(&d->out, &b, 1);
      return i + 1;
    }
    return si_dec_db94(d, (si_set)d->g0, i, 0x21, 0x7E);
  }
  /* JIS X 0201 romaji is read as ASCII (no yen/overline): 0x5C must remain
   * the value delimiter, and pydicom reads it the same way. */
  if (si_dec_is_delimiter(d, b))
    si_dec_reset(d);
  si_sb_bytes(&d->out, &b, 1);
  return i + 1;
}

static size_t si_dec_gr(si_dec *d, size_t i) {
  uint8_t b = d->in[i];
  si_set set = (si_set)d->g1;
  const uint16_t *t;
  switch ((si_kind)si_sets[set].kind) {
  case SI_K_TABLE:
    t = si_dec_table(d, set);
    if (t)
      si_sb_cp(&d->out, t[b - 0x80]);
    return i + 1;
  case SI_K_KATAKANA:
    return si_dec_katakana(d, i);
  case SI_K_DB94:
    return si_dec_db94(d, set, i, 0xA1, 0xFE);
  default:
    si_sb_cp(&d->out, b);
    return i + 1;
  }
}

static void si_dec_2022(si_dec *d) {
  size_t i = 0;
  while (i < d->len && si_dec_ok(d)) {
    uint8_t b = d->in[i];
    if (b == SI_ESC) {
      i = si_dec_escape(d, i);
    } else if (b < 0x20 || b == 0x7F) {
      if (si_dec_is_delimiter(d, b))
        si_dec_reset(d);
      si_sb_bytes(&d->out, &b, 1);
      i++;
    } else if (b < 0x80) {
      i = si_dec_gl(d, i);
    } else {
      i = si_dec_gr(d, i);
    }
  }
}

/* ---- stream encodings ------------------------------------------------- */

static void si_dec_utf8(si_dec *d) {
  size_t i = 0;
  while (i < d->len && !d->out.failed) {
    int ok;
    size_t n = si_utf8_seq(d->in + i, d->len - i, &ok);
    if (ok)
      si_sb_bytes(&d->out, d->in + i, n);
    else
      si_sb_cp(&d->out, SI_REPLACEMENT);
    i += n;
  }
}

static int si_is_ascii(const uint8_t *p, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (p[i] >= 0x80 || p[i] == SI_ESC)
      return 0;
  return 1;
}

/* ---- public API ------------------------------------------------------- */

static si_mode si_cs_mode(const si_charset *cs) { return cs ? cs->mode : SI_MODE_2022; }

static void si_dec_run(si_dec *d, si_mode mode) {
  if (mode != SI_MODE_UTF8 && si_is_ascii(d->in, d->len)) {
    si_sb_bytes(&d->out, d->in, d->len);
    return;
  }
  switch (mode) {
  case SI_MODE_UTF8:
    si_dec_utf8(d);
    break;
  case SI_MODE_GB18030:
    si_dec_iconv(d, SI_CONV_GB18030, (const char *)d->in, d->len, 1);
    break;
  case SI_MODE_GBK:
    si_dec_iconv(d, SI_CONV_GBK, (const char *)d->in, d->len, 1);
    break;
  default:
    si_dec_2022(d);
    break;
  }
}

si_status si_charset_decode(const si_charset *cs, si_vr vr, const uint8_t *in, size_t len,
                            char **out, size_t *out_len, si_error *err) {
  if (out)
    *out = NULL;
  if (out_len)
    *out_len = 0;
  if (!out || (!in && len))
    return si_error_set(err, SI_ERR_ARG, NULL, SI_NO_OFFSET, SI_NO_TAG,
                        "si_charset_decode: NULL output or input");
  si_dec d = {.in = in, .len = len, .st = SI_OK, .err = err};
  d.reset_backslash = si_vr_is_multivalued_string(vr);
  d.reset_pn = vr == SI_VR_PN;
  d.init_g0 = cs ? cs->g0 : SI_SET_ASCII;
  d.init_g1 = cs ? cs->g1 : SI_SET_NONE;
  d.cache = cs ? cs->cache : NULL;
  si_dec_reset(&d);
  /* Mostly-ASCII text fits without regrowth; huge inputs start smaller. */
  si_sb_reserve(&d.out, len < SIZE_MAX / 4 ? len + len / 2 : len);
  si_dec_run(&d, si_cs_mode(cs));
  if (d.own_cache)
    si_cache_free(d.cache);
  if (d.st == SI_OK && d.out.failed)
    d.st = si_error_set(err, SI_ERR_NOMEM, NULL, SI_NO_OFFSET, SI_NO_TAG,
                        "out of memory decoding %zu bytes of text", len);
  if (d.st != SI_OK) {
    free(d.out.p);
    return d.st;
  }
  d.out.p[d.out.len] = '\0';
  *out = d.out.p;
  if (out_len)
    *out_len = d.out.len;
  return SI_OK;
}

/* ---- Specific Character Set parsing ----------------------------------- */

typedef struct si_term {
  si_mode mode;
  si_set g0, g1;
  int ascii_only;
} si_term;

/* Uppercase, without the separators writers disagree on ("ISO-IR 100",
 * "ISO_IR100", "iso_ir 100" all occur in the wild). */
static size_t si_term_normalize(const char *s, size_t n, char *dst) {
  size_t k = 0;
  for (size_t i = 0; i < n; i++) {
    char c = s[i];
    if (c == ' ' || c == '_' || c == '-')
      continue;
    if (k == SI_TERM_MAX)
      return 0;
    dst[k++] = (c >= 'a' && c <= 'z') ? (char)(c - 'a' + 'A') : c;
  }
  dst[k] = '\0';
  return k;
}

static int si_term_by_ir(const char *digits, int form, si_term *t) {
  size_t nd = strlen(digits);
  if (nd == 0 || nd > 3 || strspn(digits, "0123456789") != nd)
    return 0;
  unsigned ir = (unsigned)atoi(digits);
  for (size_t k = 0; k < sizeof si_terms / sizeof si_terms[0]; k++) {
    if (si_terms[k].ir == ir && (si_terms[k].forms & form)) {
      t->mode = (si_mode)si_terms[k].mode;
      t->g0 = (si_set)si_terms[k].g0;
      t->g1 = (si_set)si_terms[k].g1;
      t->ascii_only = ir == 6;
      return 1;
    }
  }
  return 0;
}

/* Looks up one trimmed, non-empty value. */
static int si_term_lookup(const char *s, size_t n, si_term *t) {
  char norm[SI_TERM_MAX + 1];
  if (!si_term_normalize(s, n, norm))
    return 0;
  *t = (si_term){SI_MODE_2022, SI_SET_ASCII, SI_SET_NONE, 0};
  if (strcmp(norm, "GB18030") == 0) {
    t->mode = SI_MODE_GB18030;
    return 1;
  }
  if (strcmp(norm, "GBK") == 0) {
    t->mode = SI_MODE_GBK;
    return 1;
  }
  if (strncmp(norm, "ISO2022IR", 9) == 0)
    return si_term_by_ir(norm + 9, SI_FORM_2022, t);
  if (strncmp(norm, "ISOIR", 5) == 0)
    return si_term_by_ir(norm + 5, SI_FORM_PLAIN, t);
  return 0;
}

static si_status si_term_unknown(si_error *err, const char *s, size_t n) {
  char shown[65];
  size_t k = n < sizeof shown - 1 ? n : sizeof shown - 1;
  for (size_t i = 0; i < k; i++)
    shown[i] = (s[i] >= 0x20 && s[i] < 0x7F) ? s[i] : '?';
  shown[k] = '\0';
  return si_error_set(err, SI_ERR_UNSUPPORTED, NULL, SI_NO_OFFSET, 0x00080005u,
                      "unsupported Specific Character Set term \"%s\"", shown);
}

static int si_is_pad(char c) { return c == ' ' || c == '\0'; }

/* Folds value number `index` into cs: value 1 sets the initial designations;
 * a later G1 set fills an empty initial G1; a stream encoding anywhere wins,
 * since it cannot be mixed with code extensions anyway. */
static void si_charset_add(si_charset *cs, size_t index, const si_term *t) {
  if (cs->mode != SI_MODE_2022)
    return;
  if (t->mode != SI_MODE_2022) {
    cs->mode = t->mode;
    cs->utf8_compatible = t->mode == SI_MODE_UTF8;
    return;
  }
  if (index == 0) {
    cs->g0 = (unsigned char)t->g0;
    cs->g1 = (unsigned char)t->g1;
  } else if (cs->g1 == SI_SET_NONE) {
    cs->g1 = (unsigned char)t->g1;
  }
  if (!t->ascii_only)
    cs->utf8_compatible = 0;
}

static si_status si_charset_parse(si_charset *cs, const char *s, size_t len, si_error *err) {
  size_t start = 0, index = 0;
  while (start <= len) {
    size_t end = start;
    while (end < len && s[end] != '\\')
      end++;
    size_t a = start, b = end;
    while (a < b && si_is_pad(s[a]))
      a++;
    while (b > a && si_is_pad(s[b - 1]))
      b--;
    si_term t = {SI_MODE_2022, SI_SET_ASCII, SI_SET_NONE, 1};
    if (b > a && !si_term_lookup(s + a, b - a, &t))
      return si_term_unknown(err, s + a, b - a);
    if (b > a || index == 0)
      si_charset_add(cs, index, &t);
    index++;
    start = end + 1;
  }
  return SI_OK;
}

si_status si_charset_open(const char *specific_character_set, size_t len, si_charset **out,
                          si_error *err) {
  if (!out)
    return si_error_set(err, SI_ERR_ARG, NULL, SI_NO_OFFSET, SI_NO_TAG,
                        "si_charset_open: NULL output");
  *out = NULL;
  si_charset *cs = malloc(sizeof *cs);
  if (!cs)
    return si_error_set(err, SI_ERR_NOMEM, NULL, SI_NO_OFFSET, SI_NO_TAG, "out of memory");
  *cs = (si_charset){SI_MODE_2022, SI_SET_ASCII, SI_SET_NONE, 1, NULL};
  if (specific_character_set) {
    si_status st = si_charset_parse(cs, specific_character_set, len, err);
    if (st != SI_OK) {
      free(cs);
      return st;
    }
  }
  if (!cs->utf8_compatible) {
    cs->cache = si_cache_new();
    if (!cs->cache) {
      free(cs);
      return si_error_set(err, SI_ERR_NOMEM, NULL, SI_NO_OFFSET, SI_NO_TAG, "out of memory");
    }
  }
  *out = cs;
  return SI_OK;
}

void si_charset_close(si_charset *cs) {
  if (!cs)
    return;
  si_cache_free(cs->cache);
  free(cs);
}

int si_charset_is_utf8_compatible(const si_charset *cs) { return cs ? cs->utf8_compatible : 1; }
