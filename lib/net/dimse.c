/* DIMSE command sets and message transfer: see dimse.h. */
#include "net/dimse.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static uint16_t le16(const uint8_t *p) { return (uint16_t)(p[0] | (p[1] << 8)); }
static uint32_t le32(const uint8_t *p) {
  return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

/* The command elements sendit reads and writes, in tag order. */
typedef enum cmd_kind { K_US, K_UI, K_AE, K_LO, K_UL } cmd_kind;
static const struct {
  uint16_t element;
  uint32_t flag;
  cmd_kind kind;
  size_t off; /* of the field in net_cmd */
  size_t cap; /* text fields: their size */
} cmd_fields[] = {
    {0x0002, NET_CMD_SOP_CLASS, K_UI, offsetof(net_cmd, sop_class), 65},
    {0x0100, NET_CMD_FIELD, K_US, offsetof(net_cmd, field), 0},
    {0x0110, NET_CMD_MESSAGE_ID, K_US, offsetof(net_cmd, message_id), 0},
    {0x0120, NET_CMD_RESPONDED_TO, K_US, offsetof(net_cmd, responded_to), 0},
    {0x0700, NET_CMD_PRIORITY, K_US, offsetof(net_cmd, priority), 0},
    {0x0800, NET_CMD_DATA_SET_TYPE, K_US, offsetof(net_cmd, data_set_type), 0},
    {0x0900, NET_CMD_STATUS, K_US, offsetof(net_cmd, status), 0},
    {0x0902, NET_CMD_ERROR_COMMENT, K_LO, offsetof(net_cmd, error_comment), 65},
    {0x1000, NET_CMD_SOP_INSTANCE, K_UI, offsetof(net_cmd, sop_instance), 65},
    {0x1030, NET_CMD_MOVE_AE, K_AE, offsetof(net_cmd, move_ae), 17},
    {0x1031, NET_CMD_MOVE_ID, K_US, offsetof(net_cmd, move_id), 0},
};
#define CMD_FIELD_COUNT (sizeof cmd_fields / sizeof cmd_fields[0])

static si_status cmd_bad(si_error *err, size_t off, uint32_t tag, const char *what) {
  return si_error_set(err, SI_ERR_FORMAT, "command set", off, tag, "command set: %s", what);
}

si_status net_cmd_decode(const uint8_t *buf, size_t len, net_cmd *out, si_error *err) {
  memset(out, 0, sizeof *out);
  for (size_t pos = 0; pos < len;) {
    if (len - pos < 8)
      return si_error_set(err, SI_ERR_TRUNCATED, "command set", pos, SI_NO_TAG,
                          "command set: element header cut short");
    uint16_t group = le16(buf + pos), element = le16(buf + pos + 2);
    uint32_t tag = ((uint32_t)group << 16) | element;
    uint32_t vlen = le32(buf + pos + 4);
    if (group != 0x0000)
      return cmd_bad(err, pos, tag, "an element outside group 0000");
    if (vlen > len - pos - 8)
      return si_error_set(err, SI_ERR_TRUNCATED, "command set", pos + 4, tag,
                          "command set: value length %u beyond the %zu bytes left", vlen,
                          len - pos - 8);
    const uint8_t *v = buf + pos + 8;
    for (size_t i = 0; i < CMD_FIELD_COUNT; i++) {
      if (cmd_fields[i].element != element)
        continue;
      if (cmd_fields[i].kind == K_US) {
        if (vlen != 2)
          return cmd_bad(err, pos, tag, "a US value that is not 2 bytes");
        memcpy((uint8_t *)out + cmd_fields[i].off, &(uint16_t){le16(v)}, sizeof(uint16_t));
      } else {
        /* A NUL ends the text (it is only ever padding); then trailing
         * padding goes, as the encoder's reader would see it. */
        const uint8_t *nul = memchr(v, 0, vlen);
        size_t s = 0, e = nul ? (size_t)(nul - v) : vlen;
        while (e > 0 && v[e - 1] == ' ')
          e--;
        while (cmd_fields[i].kind == K_AE && s < e && v[s] == ' ')
          s++;
        char *dst = (char *)out + cmd_fields[i].off;
        size_t cap = cmd_fields[i].cap;
        if (e - s >= cap) {
          if (cmd_fields[i].kind != K_LO)
            return cmd_bad(err, pos, tag, "a UID or AE title longer than its maximum");
          memcpy(dst, v + s, cap - 4);
          memcpy(dst + cap - 4, "...", 4);
        } else {
          memcpy(dst, v + s, e - s);
          dst[e - s] = '\0';
        }
        for (char *c = dst; *c; c++)
          if ((unsigned char)*c < 0x20 || (unsigned char)*c > 0x7e)
            *c = '?'; /* shown in logs and reports */
      }
      out->has |= cmd_fields[i].flag;
    }
    pos += 8 + (size_t)vlen;
  }
  if (!(out->has & NET_CMD_FIELD))
    return cmd_bad(err, 0, 0x00000100, "no CommandField (0000,0100)");
  return SI_OK;
}

static void put_element(uint8_t *p, size_t *pos, uint16_t element, const void *v, uint32_t n,
                        uint8_t pad) {
  uint32_t padded = n + (n & 1);
  uint8_t *q = p + *pos;
  q[0] = 0;
  q[1] = 0;
  q[2] = (uint8_t)element;
  q[3] = (uint8_t)(element >> 8);
  q[4] = (uint8_t)padded;
  q[5] = (uint8_t)(padded >> 8);
  q[6] = (uint8_t)(padded >> 16);
  q[7] = (uint8_t)(padded >> 24);
  memcpy(q + 8, v, n);
  if (n & 1)
    q[8 + n] = pad;
  *pos += 8 + padded;
}

si_status net_cmd_encode(const net_cmd *c, uint8_t **out, size_t *out_len, si_error *err) {
  /* Each field at most 8 + 66 bytes; the group length 12. */
  uint8_t *p = malloc(12 + CMD_FIELD_COUNT * 74);
  if (!p)
    return si_error_set(err, SI_ERR_NOMEM, "command set", SI_NO_OFFSET, SI_NO_TAG, "out of memory");
  size_t pos = 12;
  uint32_t has = c->has | NET_CMD_FIELD | NET_CMD_DATA_SET_TYPE;
  for (size_t i = 0; i < CMD_FIELD_COUNT; i++) {
    if (!(has & cmd_fields[i].flag))
      continue;
    const uint8_t *field = (const uint8_t *)c + cmd_fields[i].off;
    if (cmd_fields[i].kind == K_US) {
      uint16_t v;
      memcpy(&v, field, sizeof v);
      uint8_t b[2] = {(uint8_t)v, (uint8_t)(v >> 8)};
      put_element(p, &pos, cmd_fields[i].element, b, 2, 0);
    } else {
      size_t n = strnlen((const char *)field, cmd_fields[i].cap - 1);
      put_element(p, &pos, cmd_fields[i].element, field, (uint32_t)n,
                  cmd_fields[i].kind == K_UI ? '\0' : ' ');
    }
  }
  uint32_t group_len = (uint32_t)(pos - 12);
  uint8_t gl[4] = {(uint8_t)group_len, (uint8_t)(group_len >> 8), (uint8_t)(group_len >> 16),
                   (uint8_t)(group_len >> 24)};
  size_t zero = 0;
  put_element(p, &zero, 0x0000, gl, 4, 0);
  *out = p;
  *out_len = pos;
  return SI_OK;
}

/* Next PDV, reading PDUs as needed. Non-OK: *ind says what came instead. */
static si_status next_pdv(net_assoc *a, int timeout_ms, net_pdv *pdv, net_ind *ind, si_error *err) {
  for (;;) {
    if (a->pdata_open) {
      si_status st = net_assoc_next_pdv(a, pdv, err);
      if (st == SI_OK)
        return SI_OK;
      if (st != SI_ERR_NOT_FOUND) {
        net_assoc_invalid_pdu(a, NET_ABORT_INVALID_PARAM);
        *ind = IND_PROVIDER_ABORT;
        return st;
      }
      a->pdata_open = 0;
    }
    net_ind got = net_assoc_wait(a, timeout_ms);
    if (got == IND_PDATA)
      continue;
    if (got == IND_NONE)
      continue;
    *ind = got;
    if (got == IND_TIMEOUT && a->err.code == SI_OK)
      si_error_set(&a->err, SI_ERR_IO, "association", SI_NO_OFFSET, SI_NO_TAG,
                   "nothing received within %d ms", timeout_ms);
    if (err)
      *err = a->err;
    if (got == IND_RELEASE_RQ && err)
      si_error_set(err, SI_ERR_STATE, "association", SI_NO_OFFSET, SI_NO_TAG,
                   "the peer released the association");
    if (got == IND_ABORTED && err)
      si_error_set(err, SI_ERR_IO, "association", SI_NO_OFFSET, SI_NO_TAG,
                   "the peer aborted the association (source %u, reason %u)", a->abort_source,
                   a->abort_reason);
    return err && err->code != SI_OK ? err->code : SI_ERR_IO;
  }
}

static si_status protocol_error(net_assoc *a, net_ind *ind, si_error *err, const char *what) {
  si_error_set(err, SI_ERR_FORMAT, "P-DATA-TF", SI_NO_OFFSET, SI_NO_TAG, "%s", what);
  net_assoc_invalid_pdu(a, NET_ABORT_UNEXPECTED_PARAM);
  *ind = IND_PROVIDER_ABORT;
  return SI_ERR_FORMAT;
}

si_status net_dimse_recv_command(net_assoc *a, int timeout_ms, net_cmd *cmd, uint8_t *pc_id,
                                 net_ind *ind, si_error *err) {
  uint8_t *buf = NULL;
  size_t len = 0;
  int first = 1;
  *ind = IND_NONE;
  for (;;) {
    net_pdv pdv;
    si_status st = next_pdv(a, first ? timeout_ms : a->timeouts.artim_ms, &pdv, ind, err);
    if (st != SI_OK) {
      free(buf);
      if (!first && *ind == IND_TIMEOUT) { /* a command set begun and not ended */
        net_assoc_abort(a);
        *ind = IND_PROVIDER_ABORT;
      }
      return st;
    }
    if (!pdv.command || (!first && pdv.pc_id != *pc_id)) {
      free(buf);
      return protocol_error(a, ind, err,
                            "a data set fragment or another context inside a command set");
    }
    if (first)
      *pc_id = pdv.pc_id;
    first = 0;
    if (pdv.len > NET_MAX_COMMAND - len) {
      free(buf);
      return protocol_error(a, ind, err, "a command set longer than 64 KiB");
    }
    uint8_t *g = realloc(buf, len + pdv.len + 1);
    if (!g) {
      free(buf);
      return protocol_error(a, ind, err, "out of memory for a command set");
    }
    buf = g;
    memcpy(buf + len, pdv.data, pdv.len);
    len += pdv.len;
    if (pdv.last)
      break;
  }
  si_status st = net_cmd_decode(buf, len, cmd, err);
  free(buf);
  if (st != SI_OK) {
    net_assoc_invalid_pdu(a, NET_ABORT_INVALID_PARAM);
    *ind = IND_PROVIDER_ABORT;
  }
  return st;
}

si_status net_dimse_recv_data(net_assoc *a, int timeout_ms, uint8_t pc_id, net_data_sink sink,
                              void *ctx, int *sink_failed, net_ind *ind, si_error *err) {
  *ind = IND_NONE;
  *sink_failed = 0;
  for (;;) {
    net_pdv pdv;
    si_status st = next_pdv(a, timeout_ms, &pdv, ind, err);
    if (st != SI_OK)
      return st;
    if (pdv.command || pdv.pc_id != pc_id)
      return protocol_error(a, ind, err, "a command fragment or another context inside a data set");
    if (!*sink_failed && pdv.len && sink(ctx, pdv.data, pdv.len) < 0)
      *sink_failed = 1;
    if (pdv.last)
      return SI_OK;
  }
}

si_status net_dimse_send(net_assoc *a, uint8_t pc_id, const net_cmd *cmd,
                         const net_data_source *data, si_error *err) {
  uint8_t *cbuf;
  size_t clen;
  net_cmd c = *cmd;
  c.has |= NET_CMD_DATA_SET_TYPE;
  c.data_set_type = data ? 0x0000 : NET_NO_DATA_SET;
  si_status st = net_cmd_encode(&c, &cbuf, &clen, err);
  if (st != SI_OK)
    return st;
  size_t max = net_assoc_max_pdv(a);
  for (size_t off = 0; st == SI_OK && off < clen; off += max) {
    size_t n = clen - off < max ? clen - off : max;
    st = net_assoc_send_pdv(a, pc_id, 1, off + n == clen, cbuf + off, n, err);
  }
  free(cbuf);
  if (st != SI_OK || !data)
    return st;
  uint8_t *chunk = NULL;
  if (!data->mem && !(chunk = malloc(max)))
    return si_error_set(err, SI_ERR_NOMEM, "data set", SI_NO_OFFSET, SI_NO_TAG, "out of memory");
  uint64_t off = 0;
  do { /* an empty data set is still one (empty, last) fragment */
    size_t n = data->len - off < max ? (size_t)(data->len - off) : max;
    const uint8_t *p;
    if (data->mem) {
      p = data->mem + off;
    } else {
      size_t got = 0;
      while (got < n) {
        ssize_t r = pread(data->fd, chunk + got, n - got, (off_t)(data->offset + off + got));
        if (r < 0 && errno == EINTR)
          continue;
        if (r <= 0) {
          free(chunk);
          return si_error_set(err, SI_ERR_IO, "data set", data->offset + off + got, SI_NO_TAG,
                              "cannot read the file: %s",
                              r < 0 ? strerror(errno) : "it got shorter");
        }
        got += (size_t)r;
      }
      p = chunk;
    }
    st = net_assoc_send_pdv(a, pc_id, 0, off + n == data->len, p, n, err);
    off += n;
  } while (st == SI_OK && off < data->len);
  free(chunk);
  return st;
}
