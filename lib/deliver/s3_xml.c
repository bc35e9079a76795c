/* See s3_xml.h. S3's answers are flat documents whose values are plain
 * text, so the extractor looks for the tag's opening, takes the text up to
 * the next '<' and insists that it is the matching closing tag; anything
 * richer is refused rather than guessed at. */
#include "deliver/s3_xml.h"

#include <stdint.h>
#include <string.h>

/* xml[i..] starts "<tag" followed by '>', '/', or white space. */
static int opens(const char *xml, size_t size, size_t i, const char *tag, size_t tag_len) {
  if (i + 1 + tag_len >= size || xml[i] != '<' || memcmp(xml + i + 1, tag, tag_len) != 0)
    return 0;
  char c = xml[i + 1 + tag_len];
  return c == '>' || c == '/' || c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* Appends code point cp as UTF-8; 0 when it does not fit. */
static int put_utf8(uint32_t cp, char *out, size_t out_size, size_t *n) {
  uint8_t b[4];
  size_t len;
  if (cp < 0x80) {
    b[0] = (uint8_t)cp;
    len = 1;
  } else if (cp < 0x800) {
    b[0] = (uint8_t)(0xC0 | cp >> 6);
    b[1] = (uint8_t)(0x80 | (cp & 0x3F));
    len = 2;
  } else if (cp < 0x10000) {
    b[0] = (uint8_t)(0xE0 | cp >> 12);
    b[1] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
    b[2] = (uint8_t)(0x80 | (cp & 0x3F));
    len = 3;
  } else {
    b[0] = (uint8_t)(0xF0 | cp >> 18);
    b[1] = (uint8_t)(0x80 | ((cp >> 12) & 0x3F));
    b[2] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
    b[3] = (uint8_t)(0x80 | (cp & 0x3F));
    len = 4;
  }
  if (*n + len >= out_size)
    return 0;
  memcpy(out + *n, b, len);
  *n += len;
  return 1;
}

static const struct {
  const char *name;
  char c;
} entities[] = {{"amp", '&'}, {"lt", '<'}, {"gt", '>'}, {"quot", '"'}, {"apos", '\''}};

/* The reference starting at text[0] == '&' within text[len]: its code point
 * and its length, or 0 when it is not a valid one. */
static size_t reference(const char *text, size_t len, uint32_t *cp) {
  const char *semi = memchr(text, ';', len < 12 ? len : 12);
  if (!semi)
    return 0;
  size_t ref_len = (size_t)(semi - text) + 1;
  const char *name = text + 1;
  size_t name_len = ref_len - 2;
  for (size_t i = 0; i < sizeof entities / sizeof entities[0]; i++)
    if (strlen(entities[i].name) == name_len && memcmp(entities[i].name, name, name_len) == 0) {
      *cp = (uint8_t)entities[i].c;
      return ref_len;
    }
  if (name_len < 2 || name[0] != '#')
    return 0;
  int hex = name[1] == 'x';
  size_t start = hex ? 2 : 1;
  if (start >= name_len)
    return 0;
  uint32_t v = 0;
  for (size_t i = start; i < name_len; i++) {
    char c = name[i];
    uint32_t d;
    if (c >= '0' && c <= '9')
      d = (uint32_t)(c - '0');
    else if (hex && c >= 'a' && c <= 'f')
      d = (uint32_t)(c - 'a' + 10);
    else if (hex && c >= 'A' && c <= 'F')
      d = (uint32_t)(c - 'A' + 10);
    else
      return 0;
    v = v * (hex ? 16 : 10) + d;
    if (v > 0x10FFFF)
      return 0;
  }
  if (v == 0 || (v >= 0xD800 && v <= 0xDFFF))
    return 0;
  *cp = v;
  return ref_len;
}

si_status si_s3_xml_text(const char *xml, size_t size, const char *tag, char *out,
                         size_t out_size) {
  if (out && out_size)
    out[0] = '\0';
  if (!xml || !tag || !tag[0] || !out || out_size == 0)
    return SI_ERR_ARG;
  size_t tag_len = strlen(tag);
  size_t i = 0;
  for (; i < size; i++)
    if (opens(xml, size, i, tag, tag_len))
      break;
  if (i >= size)
    return SI_ERR_NOT_FOUND;
  const char *gt = memchr(xml + i, '>', size - i);
  if (!gt)
    return SI_ERR_FORMAT;
  if (gt > xml + i && gt[-1] == '/')
    return SI_OK; /* <tag/>: empty */
  size_t start = (size_t)(gt - xml) + 1;
  const char *lt = memchr(xml + start, '<', size - start);
  if (!lt)
    return SI_ERR_FORMAT;
  size_t end = (size_t)(lt - xml);
  if (end + 3 + tag_len > size || lt[1] != '/' || memcmp(lt + 2, tag, tag_len) != 0 ||
      lt[2 + tag_len] != '>')
    return SI_ERR_FORMAT;
  size_t n = 0;
  for (size_t k = start; k < end;) {
    unsigned char c = (unsigned char)xml[k];
    if (c == '&') {
      uint32_t cp;
      size_t ref_len = reference(xml + k, end - k, &cp);
      if (!ref_len) {
        out[n] = '\0';
        return SI_ERR_FORMAT;
      }
      if (!put_utf8(cp < 0x20 ? ' ' : cp, out, out_size, &n)) {
        out[n] = '\0';
        return SI_ERR_LIMIT;
      }
      k += ref_len;
      continue;
    }
    if (n + 1 >= out_size) {
      out[n] = '\0';
      return SI_ERR_LIMIT;
    }
    out[n++] = (char)(c < 0x20 || c == 0x7F ? ' ' : c);
    k++;
  }
  out[n] = '\0';
  return SI_OK;
}
