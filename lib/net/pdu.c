/* PDU encoding and decoding (PS3.8 9.3): see pdu.h. Offsets in errors are
 * byte offsets in the PDU, its 6-byte header included. */
#include "net/pdu.h"

#include <stdlib.h>
#include <string.h>

static const struct {
  uint8_t type;
  const char *name;
} pdu_names[] = {
    {NET_PDU_ASSOCIATE_RQ, "A-ASSOCIATE-RQ"},
    {NET_PDU_ASSOCIATE_AC, "A-ASSOCIATE-AC"},
    {NET_PDU_ASSOCIATE_RJ, "A-ASSOCIATE-RJ"},
    {NET_PDU_DATA_TF, "P-DATA-TF"},
    {NET_PDU_RELEASE_RQ, "A-RELEASE-RQ"},
    {NET_PDU_RELEASE_RP, "A-RELEASE-RP"},
    {NET_PDU_ABORT, "A-ABORT"},
};

const char *net_pdu_name(uint8_t type) {
  for (size_t i = 0; i < sizeof pdu_names / sizeof pdu_names[0]; i++)
    if (pdu_names[i].type == type)
      return pdu_names[i].name;
  return "unknown PDU";
}

static uint16_t be16(const uint8_t *p) { return (uint16_t)((p[0] << 8) | p[1]); }
static uint32_t be32(const uint8_t *p) {
  return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}
static void put16(uint8_t *p, uint16_t v) {
  p[0] = (uint8_t)(v >> 8);
  p[1] = (uint8_t)v;
}
static void put32(uint8_t *p, uint32_t v) {
  p[0] = (uint8_t)(v >> 24);
  p[1] = (uint8_t)(v >> 16);
  p[2] = (uint8_t)(v >> 8);
  p[3] = (uint8_t)v;
}

void net_pdu_header(const uint8_t hdr[NET_PDU_HEADER], uint8_t *type, uint32_t *length) {
  *type = hdr[0];
  *length = be32(hdr + 2);
}

static si_status bad(si_error *err, uint8_t type, size_t off, const char *what) {
  return si_error_set(err, SI_ERR_FORMAT, net_pdu_name(type), off, SI_NO_TAG, "%s: %s",
                      net_pdu_name(type), what);
}

/* The header's type and length must match the buffer exactly. */
static si_status check_header(const uint8_t *buf, size_t len, uint8_t type, si_error *err) {
  if (len < NET_PDU_HEADER)
    return si_error_set(err, SI_ERR_TRUNCATED, net_pdu_name(type), 0, SI_NO_TAG,
                        "%s: %zu bytes, shorter than the PDU header", net_pdu_name(type), len);
  if (buf[0] != type)
    return bad(err, type, 0, "wrong PDU type");
  if (be32(buf + 2) != len - NET_PDU_HEADER)
    return si_error_set(err, SI_ERR_TRUNCATED, net_pdu_name(type), 2, SI_NO_TAG,
                        "%s: length %u does not match the %zu bytes present", net_pdu_name(type),
                        be32(buf + 2), len - NET_PDU_HEADER);
  return SI_OK;
}

/* Copies a UID or title of n bytes into out (size cap incl. NUL), removing
 * trailing NUL/space padding (and leading spaces for AE titles). */
static si_status copy_text(const uint8_t *p, size_t n, char *out, size_t cap, int trim_lead,
                           uint8_t type, size_t off, const char *what, si_error *err) {
  size_t s = 0, e = n;
  while (trim_lead && s < e && p[s] == ' ')
    s++;
  while (e > s && (p[e - 1] == ' ' || p[e - 1] == '\0'))
    e--;
  if (e - s >= cap)
    return si_error_set(err, SI_ERR_FORMAT, net_pdu_name(type), off, SI_NO_TAG,
                        "%s: %s of %zu bytes is longer than %zu", net_pdu_name(type), what, e - s,
                        cap - 1);
  for (size_t i = s; i < e; i++)
    if (p[i] < 0x20 || p[i] > 0x7e)
      return bad(err, type, off + i, "a UID or AE title holds a byte that is not printable");
  memcpy(out, p + s, e - s);
  out[e - s] = '\0';
  return SI_OK;
}

/* Sub-items of a presentation context item (RQ: 0x20, AC: 0x21). */
static si_status decode_pc(const uint8_t *buf, size_t start, size_t end, uint8_t pdu_type,
                           net_pc *pc, si_error *err) {
  if (end - start < 4)
    return bad(err, pdu_type, start, "presentation context item shorter than 4 bytes");
  memset(pc, 0, sizeof *pc);
  pc->id = buf[start];
  pc->result = buf[start + 2];
  if (pc->id % 2 == 0)
    return bad(err, pdu_type, start, "presentation context id is even");
  int have_abstract = 0;
  for (size_t pos = start + 4; pos < end;) {
    if (end - pos < 4)
      return bad(err, pdu_type, pos, "sub-item header cut short");
    uint8_t it = buf[pos];
    size_t ilen = be16(buf + pos + 2);
    if (ilen > end - pos - 4)
      return bad(err, pdu_type, pos + 2, "sub-item length beyond its presentation context");
    const uint8_t *v = buf + pos + 4;
    si_status st = SI_OK;
    if (it == 0x30 && pdu_type == NET_PDU_ASSOCIATE_RQ) {
      if (have_abstract)
        return bad(err, pdu_type, pos, "two abstract syntaxes in one presentation context");
      have_abstract = 1;
      st = copy_text(v, ilen, pc->abstract_syntax, sizeof pc->abstract_syntax, 0, pdu_type, pos,
                     "abstract syntax", err);
    } else if (it == 0x40) {
      if (pc->ts_count >= (pdu_type == NET_PDU_ASSOCIATE_RQ ? NET_MAX_TS : 1))
        return bad(err, pdu_type, pos, "too many transfer syntaxes in one presentation context");
      st = copy_text(v, ilen, pc->ts[pc->ts_count], sizeof pc->ts[0], 0, pdu_type, pos,
                     "transfer syntax", err);
      pc->ts_count++;
    } else {
      return bad(err, pdu_type, pos, "unknown sub-item in a presentation context");
    }
    if (st != SI_OK)
      return st;
    pos += 4 + ilen;
  }
  if (pdu_type == NET_PDU_ASSOCIATE_RQ && (!have_abstract || pc->ts_count == 0))
    return bad(err, pdu_type, start, "presentation context without abstract or transfer syntax");
  if (pdu_type == NET_PDU_ASSOCIATE_AC && pc->result == NET_PC_ACCEPT && pc->ts_count != 1)
    return bad(err, pdu_type, start, "accepted presentation context without a transfer syntax");
  return SI_OK;
}

/* Sub-item 0x58 of an A-ASSOCIATE-RQ: type, response requested, two
 * fields of 2-byte lengths that must fill the sub-item exactly. */
static si_status decode_user_identity(const uint8_t *v, size_t ilen, size_t pos, uint8_t type,
                                      net_assoc_pdu *out, si_error *err) {
  if (out->user_type)
    return bad(err, type, pos, "two user identity sub-items");
  if (ilen < 6)
    return si_error_set(err, SI_ERR_TRUNCATED, net_pdu_name(type), pos + 2, SI_NO_TAG,
                        "%s: user identity sub-item of %zu bytes, shorter than 6",
                        net_pdu_name(type), ilen);
  uint8_t kind = v[0];
  size_t primary = be16(v + 2);
  if (primary > ilen - 6)
    return si_error_set(err, SI_ERR_FORMAT, net_pdu_name(type), pos + 6, SI_NO_TAG,
                        "%s: user identity primary field of %zu bytes beyond the %zu left",
                        net_pdu_name(type), primary, ilen - 6);
  size_t secondary = be16(v + 4 + primary);
  if (6 + primary + secondary != ilen)
    return si_error_set(err, SI_ERR_FORMAT, net_pdu_name(type), pos + 8 + primary, SI_NO_TAG,
                        "%s: user identity secondary field of %zu bytes does not end its "
                        "sub-item (%zu bytes left)",
                        net_pdu_name(type), secondary, ilen - 6 - primary);
  if (kind < NET_USER_USERNAME || kind > NET_USER_JWT)
    return si_error_set(err, SI_ERR_FORMAT, net_pdu_name(type), pos + 4, SI_NO_TAG,
                        "%s: user identity type %u unknown", net_pdu_name(type), kind);
  if (kind == NET_USER_PASSCODE && secondary == 0)
    return bad(err, type, pos + 8 + primary, "user identity of type 2 without a passcode");
  if (kind != NET_USER_PASSCODE && secondary != 0)
    return bad(err, type, pos + 8 + primary, "user identity with a secondary field not of type 2");
  if (primary == 0)
    return bad(err, type, pos + 6, "user identity with an empty primary field");
  out->user_type = kind;
  out->user_response_requested = v[1] ? 1 : 0;
  if (kind > NET_USER_PASSCODE)
    return SI_OK; /* not kept: sendit checks usernames and passcodes only */
  if (primary > NET_MAX_USER_FIELD || secondary > NET_MAX_USER_FIELD)
    return si_error_set(err, SI_ERR_LIMIT, net_pdu_name(type), pos + 6, SI_NO_TAG,
                        "%s: user identity field of %zu bytes longer than %d", net_pdu_name(type),
                        primary > secondary ? primary : secondary, NET_MAX_USER_FIELD);
  memcpy(out->username, v + 4, primary);
  out->username[primary] = '\0';
  out->username_len = primary;
  memcpy(out->passcode, v + 6 + primary, secondary);
  out->passcode[secondary] = '\0';
  out->passcode_len = secondary;
  return SI_OK;
}

static si_status decode_user_info(const uint8_t *buf, size_t start, size_t end, uint8_t type,
                                  net_assoc_pdu *out, si_error *err) {
  for (size_t pos = start; pos < end;) {
    if (end - pos < 4)
      return bad(err, type, pos, "user information sub-item header cut short");
    uint8_t it = buf[pos];
    size_t ilen = be16(buf + pos + 2);
    if (ilen > end - pos - 4)
      return bad(err, type, pos + 2, "user information sub-item length beyond its item");
    const uint8_t *v = buf + pos + 4;
    si_status st = SI_OK;
    switch (it) {
    case 0x51:
      if (ilen != 4)
        return bad(err, type, pos, "maximum length sub-item is not 4 bytes");
      out->max_pdu = be32(v);
      break;
    case 0x52:
      st = copy_text(v, ilen, out->impl_class_uid, sizeof out->impl_class_uid, 0, type, pos,
                     "implementation class UID", err);
      break;
    case 0x55:
      st = copy_text(v, ilen, out->impl_version, sizeof out->impl_version, 0, type, pos,
                     "implementation version name", err);
      break;
    case 0x53:
      out->async_ops = 1;
      break;
    case 0x54:
      out->role_selections++;
      break;
    case 0x56:
    case 0x57:
      out->ext_negotiations++;
      break;
    case 0x58:
      out->user_identity = 1;
      if (type == NET_PDU_ASSOCIATE_RQ)
        st = decode_user_identity(v, ilen, pos, type, out, err);
      break;
    case 0x59:
      out->user_identity = 1;
      if (type != NET_PDU_ASSOCIATE_AC)
        break;
      if (out->user_response)
        return bad(err, type, pos, "two user identity answers");
      if (ilen < 2 || be16(v) != ilen - 2)
        return si_error_set(err, SI_ERR_FORMAT, net_pdu_name(type), pos + 2, SI_NO_TAG,
                            "%s: user identity answer's server response length does not fill "
                            "its %zu-byte sub-item",
                            net_pdu_name(type), ilen);
      out->user_response = 1;
      break;
    default:
      break; /* unknown sub-items are skipped (PS3.7 D.3.3) */
    }
    if (st != SI_OK)
      return st;
    pos += 4 + ilen;
  }
  return SI_OK;
}

si_status net_decode_assoc(const uint8_t *buf, size_t len, net_assoc_pdu *out, si_error *err) {
  uint8_t type = len > 0 ? buf[0] : NET_PDU_ASSOCIATE_RQ;
  if (type != NET_PDU_ASSOCIATE_RQ && type != NET_PDU_ASSOCIATE_AC)
    return bad(err, type, 0, "not an A-ASSOCIATE-RQ or -AC");
  si_status st = check_header(buf, len, type, err);
  if (st != SI_OK)
    return st;
  if (len < NET_PDU_HEADER + 68)
    return si_error_set(err, SI_ERR_TRUNCATED, net_pdu_name(type), NET_PDU_HEADER, SI_NO_TAG,
                        "%s: %zu bytes, shorter than its 74-byte fixed part", net_pdu_name(type),
                        len);
  memset(out, 0, sizeof *out);
  out->protocol_version = be16(buf + 6);
  if ((st = copy_text(buf + 10, 16, out->called_ae, sizeof out->called_ae, 1, type, 10,
                      "called AE title", err)) != SI_OK ||
      (st = copy_text(buf + 26, 16, out->calling_ae, sizeof out->calling_ae, 1, type, 26,
                      "calling AE title", err)) != SI_OK)
    return st;
  int have_user = 0;
  for (size_t pos = NET_PDU_HEADER + 68; pos < len;) {
    if (len - pos < 4)
      return bad(err, type, pos, "item header cut short");
    uint8_t it = buf[pos];
    size_t ilen = be16(buf + pos + 2);
    if (ilen > len - pos - 4)
      return si_error_set(err, SI_ERR_TRUNCATED, net_pdu_name(type), pos + 2, SI_NO_TAG,
                          "%s: item length %zu beyond the %zu bytes left", net_pdu_name(type), ilen,
                          len - pos - 4);
    size_t vstart = pos + 4, vend = pos + 4 + ilen;
    if (it == 0x10) {
      st = copy_text(buf + vstart, ilen, out->app_context, sizeof out->app_context, 0, type, pos,
                     "application context name", err);
    } else if ((it == 0x20 && type == NET_PDU_ASSOCIATE_RQ) ||
               (it == 0x21 && type == NET_PDU_ASSOCIATE_AC)) {
      if (out->pc_count >= NET_MAX_PC)
        return bad(err, type, pos, "more than 128 presentation contexts");
      st = decode_pc(buf, vstart, vend, type, &out->pc[out->pc_count], err);
      for (size_t i = 0; st == SI_OK && i < out->pc_count; i++)
        if (out->pc[i].id == out->pc[out->pc_count].id)
          st = bad(err, type, pos, "two presentation contexts with the same id");
      out->pc_count++;
    } else if (it == 0x50) {
      have_user = 1;
      st = decode_user_info(buf, vstart, vend, type, out, err);
    } else {
      st = bad(err, type, pos, "unknown item");
    }
    if (st != SI_OK)
      return st;
    pos = vend;
  }
  if (!out->app_context[0])
    return bad(err, type, NET_PDU_HEADER + 68, "no application context item");
  if (!have_user)
    return bad(err, type, NET_PDU_HEADER + 68, "no user information item");
  if (out->pc_count == 0 && type == NET_PDU_ASSOCIATE_RQ)
    return bad(err, type, NET_PDU_HEADER + 68, "no presentation context");
  return SI_OK;
}

/* A growing output buffer; failure sticks (one check at the end). */
typedef struct outbuf {
  uint8_t *p;
  size_t len, cap;
  int failed;
} outbuf;

static uint8_t *reserve(outbuf *o, size_t n) {
  if (o->failed)
    return NULL;
  if (o->len + n > o->cap) {
    size_t cap = o->cap ? o->cap * 2 : 1024;
    while (cap < o->len + n)
      cap *= 2;
    uint8_t *g = realloc(o->p, cap);
    if (!g) {
      o->failed = 1;
      return NULL;
    }
    o->p = g;
    o->cap = cap;
  }
  uint8_t *at = o->p + o->len;
  o->len += n;
  return at;
}

static void put_item(outbuf *o, uint8_t type, const void *v, size_t n) {
  uint8_t *p = reserve(o, 4 + n);
  if (!p)
    return;
  p[0] = type;
  p[1] = 0;
  put16(p + 2, (uint16_t)n);
  if (n)
    memcpy(p + 4, v, n);
}

static void put_text_item(outbuf *o, uint8_t type, const char *s) {
  put_item(o, type, s, strlen(s));
}

si_status net_encode_assoc(uint8_t type, const net_assoc_pdu *in, uint8_t **out, size_t *out_len,
                           si_error *err) {
  *out = NULL;
  *out_len = 0;
  if ((type != NET_PDU_ASSOCIATE_RQ && type != NET_PDU_ASSOCIATE_AC) || in->pc_count > NET_MAX_PC)
    return si_error_set(err, SI_ERR_ARG, net_pdu_name(type), SI_NO_OFFSET, SI_NO_TAG,
                        "cannot encode this association PDU");
  outbuf o = {0};
  uint8_t *fixed = reserve(&o, NET_PDU_HEADER + 68);
  if (fixed) {
    memset(fixed, 0, NET_PDU_HEADER + 68);
    fixed[0] = type;
    put16(fixed + 6, 1);
    memset(fixed + 10, ' ', 32);
    memcpy(fixed + 10, in->called_ae, strnlen(in->called_ae, 16));
    memcpy(fixed + 26, in->calling_ae, strnlen(in->calling_ae, 16));
  }
  put_text_item(&o, 0x10, in->app_context[0] ? in->app_context : NET_APP_CONTEXT);
  for (size_t i = 0; i < in->pc_count; i++) {
    const net_pc *pc = &in->pc[i];
    size_t at = o.len;
    uint8_t *h = reserve(&o, 8);
    if (h) {
      h[0] = type == NET_PDU_ASSOCIATE_RQ ? 0x20 : 0x21;
      h[1] = 0;
      h[4] = pc->id;
      h[5] = 0;
      h[6] = type == NET_PDU_ASSOCIATE_AC ? pc->result : 0;
      h[7] = 0;
    }
    if (type == NET_PDU_ASSOCIATE_RQ) {
      put_text_item(&o, 0x30, pc->abstract_syntax);
      for (size_t t = 0; t < pc->ts_count && t < NET_MAX_TS; t++)
        put_text_item(&o, 0x40, pc->ts[t]);
    } else {
      /* PS3.8 9.3.3.2: the sub-item is present but not significant when
       * the context is refused. */
      put_text_item(&o, 0x40, pc->result == NET_PC_ACCEPT ? pc->ts[0] : "");
    }
    if (!o.failed)
      put16(o.p + at + 2, (uint16_t)(o.len - at - 4));
  }
  size_t user_at = o.len;
  put_item(&o, 0x50, NULL, 0);
  uint8_t maxlen[4];
  put32(maxlen, in->max_pdu);
  put_item(&o, 0x51, maxlen, 4);
  put_text_item(&o, 0x52, in->impl_class_uid);
  if (in->impl_version[0])
    put_text_item(&o, 0x55, in->impl_version);
  if (type == NET_PDU_ASSOCIATE_RQ && in->username_len > 0 &&
      in->username_len <= NET_MAX_USER_FIELD && in->passcode_len <= NET_MAX_USER_FIELD &&
      (in->user_type == NET_USER_USERNAME || in->user_type == NET_USER_PASSCODE)) {
    size_t pass = in->user_type == NET_USER_PASSCODE ? in->passcode_len : 0;
    uint8_t *u = reserve(&o, 4 + 6 + in->username_len + pass);
    if (u) {
      u[0] = 0x58;
      u[1] = 0;
      put16(u + 2, (uint16_t)(6 + in->username_len + pass));
      u[4] = in->user_type;
      u[5] = in->user_response_requested ? 1 : 0;
      put16(u + 6, (uint16_t)in->username_len);
      memcpy(u + 8, in->username, in->username_len);
      put16(u + 8 + in->username_len, (uint16_t)pass);
      memcpy(u + 10 + in->username_len, in->passcode, pass);
    }
  }
  if (type == NET_PDU_ASSOCIATE_AC && in->user_response) {
    uint8_t empty[2] = {0, 0}; /* no server response for types 1 and 2 */
    put_item(&o, 0x59, empty, 2);
  }
  if (o.failed) {
    free(o.p);
    return si_error_set(err, SI_ERR_NOMEM, net_pdu_name(type), SI_NO_OFFSET, SI_NO_TAG,
                        "out of memory encoding %s", net_pdu_name(type));
  }
  put16(o.p + user_at + 2, (uint16_t)(o.len - user_at - 4));
  put32(o.p + 2, (uint32_t)(o.len - NET_PDU_HEADER));
  *out = o.p;
  *out_len = o.len;
  return SI_OK;
}

/* RJ, RP/RQ and abort share one shape: header + 4 bytes. */
static si_status check_fixed4(const uint8_t *buf, size_t len, uint8_t type, si_error *err) {
  si_status st = check_header(buf, len, type, err);
  if (st != SI_OK)
    return st;
  if (len != NET_PDU_HEADER + 4)
    return bad(err, type, 2, "length is not 4");
  return SI_OK;
}

si_status net_decode_reject(const uint8_t *buf, size_t len, net_reject *out, si_error *err) {
  si_status st = check_fixed4(buf, len, NET_PDU_ASSOCIATE_RJ, err);
  if (st != SI_OK)
    return st;
  out->result = buf[7];
  out->source = buf[8];
  out->reason = buf[9];
  return SI_OK;
}

static void encode_fixed4(uint8_t type, uint8_t b1, uint8_t b2, uint8_t b3, uint8_t out[10]) {
  out[0] = type;
  out[1] = 0;
  put32(out + 2, 4);
  out[6] = 0;
  out[7] = b1;
  out[8] = b2;
  out[9] = b3;
}

void net_encode_reject(const net_reject *rj, uint8_t out[10]) {
  encode_fixed4(NET_PDU_ASSOCIATE_RJ, rj->result, rj->source, rj->reason, out);
}

si_status net_decode_abort(const uint8_t *buf, size_t len, uint8_t *source, uint8_t *reason,
                           si_error *err) {
  si_status st = check_fixed4(buf, len, NET_PDU_ABORT, err);
  if (st != SI_OK)
    return st;
  *source = buf[8];
  *reason = buf[9];
  return SI_OK;
}

void net_encode_abort(uint8_t source, uint8_t reason, uint8_t out[10]) {
  encode_fixed4(NET_PDU_ABORT, 0, source, reason, out);
}

si_status net_decode_release(const uint8_t *buf, size_t len, si_error *err) {
  uint8_t type = len > 0 ? buf[0] : NET_PDU_RELEASE_RQ;
  if (type != NET_PDU_RELEASE_RQ && type != NET_PDU_RELEASE_RP)
    return bad(err, type, 0, "not an A-RELEASE-RQ or -RP");
  return check_fixed4(buf, len, type, err);
}

void net_encode_release(uint8_t type, uint8_t out[10]) { encode_fixed4(type, 0, 0, 0, out); }

si_status net_pdata_next(const uint8_t *buf, size_t len, size_t *pos, net_pdv *pdv, si_error *err) {
  if (*pos == NET_PDU_HEADER) {
    si_status st = check_header(buf, len, NET_PDU_DATA_TF, err);
    if (st != SI_OK)
      return st;
    if (len == NET_PDU_HEADER)
      return bad(err, NET_PDU_DATA_TF, NET_PDU_HEADER, "no presentation data value");
  }
  if (*pos >= len)
    return SI_ERR_NOT_FOUND;
  if (len - *pos < 6)
    return si_error_set(err, SI_ERR_TRUNCATED, "P-DATA-TF", *pos, SI_NO_TAG,
                        "P-DATA-TF: PDV header cut short");
  uint32_t ilen = be32(buf + *pos);
  if (ilen < 2 || ilen > len - *pos - 4)
    return si_error_set(err, SI_ERR_FORMAT, "P-DATA-TF", *pos, SI_NO_TAG,
                        "P-DATA-TF: PDV length %u does not fit the %zu bytes left", ilen,
                        len - *pos - 4);
  pdv->pc_id = buf[*pos + 4];
  uint8_t mch = buf[*pos + 5];
  if (mch & 0xFC)
    return bad(err, NET_PDU_DATA_TF, *pos + 5, "reserved bits set in the message control header");
  pdv->command = mch & 1;
  pdv->last = (mch >> 1) & 1;
  pdv->data = buf + *pos + 6;
  pdv->len = ilen - 2;
  *pos += 4 + (size_t)ilen;
  return SI_OK;
}

void net_encode_pdata_header(uint8_t pc_id, int command, int last, uint32_t data_len,
                             uint8_t out[12]) {
  out[0] = NET_PDU_DATA_TF;
  out[1] = 0;
  put32(out + 2, data_len + 6);
  put32(out + 6, data_len + 2);
  out[10] = pc_id;
  out[11] = (uint8_t)((command ? 1 : 0) | (last ? 2 : 0));
}
