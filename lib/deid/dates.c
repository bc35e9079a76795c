/* Date shifting (deid_internal.h): DA and DT values moved by a number of
 * days with calendar arithmetic (day numbers of the proleptic Gregorian
 * calendar, so month ends and leap years come out right), keeping what the
 * value does not date: a DT's time, fraction, UTC offset and its precision.
 *
 * Partial dates (PS3.5 allows "YYYY" and "YYYYMM" in DT; DA is always full)
 * are shifted from their middle (1 July, the 15th) and written back at their
 * own precision, so that a small shift does not move every year-only value
 * into the year before. */
#include <stdio.h>
#include <string.h>

#include "deid_internal.h"

/* Days since 1970-01-01 of a civil date (the well-known era algorithm:
 * years of 400 days-cycles starting in March, so the leap day is last). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  int64_t era = (y >= 0 ? y : y - 399) / 400;
  unsigned yoe = (unsigned)(y - era * 400);
  unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + (int64_t)doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d) {
  z += 719468;
  int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  unsigned doe = (unsigned)(z - era * 146097);
  unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  unsigned mp = (5 * doy + 2) / 153;
  *d = doy - (153 * mp + 2) / 5 + 1;
  *m = mp < 10 ? mp + 3 : mp - 9;
  *y = (int64_t)yoe + era * 400 + (*m <= 2);
}

static unsigned days_in_month(int64_t y, unsigned m) {
  static const unsigned n[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
  return m == 2 && leap ? 29 : n[m - 1];
}

static int digits(const char *s, size_t n, unsigned *out) {
  unsigned v = 0;
  for (size_t i = 0; i < n; i++) {
    if (s[i] < '0' || s[i] > '9')
      return 0;
    v = v * 10 + (unsigned)(s[i] - '0');
  }
  *out = v;
  return 1;
}

static si_status not_a_date(si_vr vr, const char *v, size_t n, si_error *err) {
  return si_error_set(err, SI_ERR_VALUE, NULL, SI_NO_OFFSET, SI_NO_TAG, "'%.*s' is not a %s value",
                      (int)(n > 32 ? 32 : n), v, si_vr_name(vr));
}

/* One value (no backslash) into out at *pos. */
static si_status shift_one(si_vr vr, const char *v, size_t n, int32_t days, char *out, size_t size,
                           size_t *pos, si_error *err) {
  while (n && v[n - 1] == ' ')
    n--;
  while (n && *v == ' ')
    v++, n--;
  if (!n)
    return SI_OK;
  char buf[16];
  const char *date = v;
  size_t date_len = 0;
  if (vr == SI_VR_DA && n == 10 && v[4] == '.' && v[7] == '.') { /* retired YYYY.MM.DD */
    memcpy(buf, v, 4);
    memcpy(buf + 4, v + 5, 2);
    memcpy(buf + 6, v + 8, 2);
    date = buf;
    date_len = 8;
  } else if (vr == SI_VR_DA) {
    date_len = n;
    if (n != 8)
      return not_a_date(vr, v, n, err);
  } else {
    while (date_len < n && date_len < 8 && v[date_len] >= '0' && v[date_len] <= '9')
      date_len++;
    if (date_len != 4 && date_len != 6 && date_len != 8)
      return not_a_date(vr, v, n, err);
  }
  unsigned y, m = 7, d = 1;
  if (!digits(date, 4, &y) || (date_len >= 6 && !digits(date + 4, 2, &m)) ||
      (date_len == 8 && !digits(date + 6, 2, &d)))
    return not_a_date(vr, v, n, err);
  if (date_len == 6)
    d = 15;
  if (m < 1 || m > 12 || d < 1 || d > days_in_month(y, m))
    return not_a_date(vr, v, n, err);
  int64_t yy;
  unsigned mm, dd;
  civil_from_days(days_from_civil(y, m, d) + days, &yy, &mm, &dd);
  if (yy < 0 || yy > 9999)
    return si_error_set(err, SI_ERR_VALUE, NULL, SI_NO_OFFSET, SI_NO_TAG,
                        "'%.*s' shifted by %d days leaves the years 0000-9999",
                        (int)(n > 32 ? 32 : n), v, (int)days);
  char shifted[16];
  snprintf(shifted, sizeof shifted, "%04u%02u%02u", (unsigned)yy, mm, dd);
  size_t keep_len = vr == SI_VR_DA ? 0 : n - date_len; /* a DT's time and offset */
  if (*pos + date_len + keep_len + 1 > size)
    return si_error_set(err, SI_ERR_LIMIT, NULL, SI_NO_OFFSET, SI_NO_TAG,
                        "shifted date does not fit its buffer");
  memcpy(out + *pos, shifted, vr == SI_VR_DA ? 8 : date_len);
  *pos += vr == SI_VR_DA ? 8 : date_len;
  memcpy(out + *pos, v + date_len, keep_len);
  *pos += keep_len;
  return SI_OK;
}

si_status deid_shift_date(si_vr vr, const char *value, size_t len, int32_t days, char *out,
                          size_t size, si_error *err) {
  if (vr != SI_VR_DA && vr != SI_VR_DT)
    return si_error_set(err, SI_ERR_ARG, NULL, SI_NO_OFFSET, SI_NO_TAG,
                        "only DA and DT values are shifted, not %s", si_vr_name(vr));
  if (!size)
    return si_error_set(err, SI_ERR_LIMIT, NULL, SI_NO_OFFSET, SI_NO_TAG, "no room for a date");
  while (len && (value[len - 1] == 0 || value[len - 1] == ' '))
    len--;
  size_t pos = 0, start = 0;
  for (size_t i = 0; i <= len; i++) {
    if (i < len && value[i] != '\\')
      continue;
    if (start) {
      if (pos + 2 > size)
        return si_error_set(err, SI_ERR_LIMIT, NULL, SI_NO_OFFSET, SI_NO_TAG,
                            "shifted dates do not fit their buffer");
      out[pos++] = '\\';
    }
    si_status st = shift_one(vr, value + start, i - start, days, out, size, &pos, err);
    if (st != SI_OK)
      return st;
    start = i + 1;
  }
  out[pos] = 0;
  return SI_OK;
}
