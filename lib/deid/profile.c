/* The PS3.15 Basic Application Level Confidentiality Profile and its
 * options (deid_profile_apply, deid_internal.h): every element at every
 * depth gets the action its Table E.1-1 row and the chosen options give.
 *
 * Choices the standard leaves open (README, "De-identification"):
 * - Combined codes (X/Z, X/D, Z/D, X/Z/D) pick by the element's Type: a
 *   small table below names the elements common IODs require (Type 1: D,
 *   Type 2: Z); every other one gets the most destructive code allowed.
 *   X/Z/U* sequences of references are kept with their UIDs replaced, so
 *   references between de-identified instances still resolve.
 * - A sequence with D or C is kept and its items processed by their own
 *   rows, with unlisted text in them cleaned (PN replaced, other text
 *   removed when it holds an identifier); K sequences are processed too.
 * - Clean (C) on text keeps the value unless it holds one of the patient's
 *   or institution's identifying values, then the basic action applies.
 * - Standard elements the table does not list are kept, except DA, DT and
 *   TM values, which are handled as dates (PS3.15 E.1.1 note 4); private
 *   elements go unless Retain Safe Private keeps them; overlay groups
 *   (60xx) go whole unless Clean Graphics keeps them.
 * - Options: a K in an enabled option's column wins over a C, which wins
 *   over the Basic Profile's code. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "profile_internal.h"

#define TAG_PATIENT_NAME SI_TAG(0x0010, 0x0010)
#define TAG_PATIENT_ID SI_TAG(0x0010, 0x0020)
#define TAG_ACCESSION SI_TAG(0x0008, 0x0050)
#define TAG_STUDY_ID SI_TAG(0x0020, 0x0010)
#define TAG_PATIENT_AGE SI_TAG(0x0010, 0x1010)
#define OPT_MODIFIED_DATES 6 /* the option column of retain-long-modified-dates */

typedef enum action {
  DO_KEEP,
  DO_REMOVE,
  DO_EMPTY,
  DO_DUMMY,
  DO_UID,
  DO_SHIFT,
  DO_CLEAN,
  DO_PATIENT, /* the patient's pseudonym */
  DO_STUDY    /* the study's pseudonym */
} action;

/* Elements of combined codes that IODs require, with their Type there
 * (PS3.3), for the SOP classes whose UID starts with `classes` (NULL: any
 * class; the first matching row counts): General Image, Contrast/Bolus,
 * SR Document General and Series, RT Series, RT General Plan, RT Beams,
 * Approval, Presentation State, Acquisition Context. */
#define SR_CLASSES "1.2.840.10008.5.1.4.1.1.88."
#define RT_CLASSES "1.2.840.10008.5.1.4.1.1.481."
static const struct {
  uint32_t tag;
  const char *classes;
  int type;
} required[] = {
    {SI_TAG(0x0008, 0x0023), SR_CLASSES, 1}, /* ContentDate */
    {SI_TAG(0x0008, 0x0033), SR_CLASSES, 1}, /* ContentTime */
    {SI_TAG(0x0008, 0x1111), SR_CLASSES, 2}, /* ReferencedPerformedProcedureStepSequence */
    {SI_TAG(0x0008, 0x1070), RT_CLASSES, 2}, /* OperatorsName (RT Series) */
    {SI_TAG(0x0008, 0x0023), NULL, 2},       /* ContentDate (General Image) */
    {SI_TAG(0x0008, 0x0033), NULL, 2},       /* ContentTime */
    {SI_TAG(0x0010, 0x0020), NULL, 2},       /* PatientID */
    {SI_TAG(0x0018, 0x0010), NULL, 2},       /* ContrastBolusAgent */
    {SI_TAG(0x0018, 0x9919), NULL, 1},       /* InstructionPerformedDateTime */
    {SI_TAG(0x0040, 0x0555), NULL, 2},       /* AcquisitionContextSequence */
    {SI_TAG(0x0070, 0x0084), NULL, 2},       /* ContentCreatorName */
    {SI_TAG(0x300A, 0x0006), NULL, 2},       /* RTPlanDate */
    {SI_TAG(0x300A, 0x0007), NULL, 2},       /* RTPlanTime */
    {SI_TAG(0x300A, 0x00B2), NULL, 2},       /* TreatmentMachineName */
    {SI_TAG(0x300E, 0x0008), NULL, 2},       /* ReviewerName */
};

static int required_type(const deid_profile *p, uint32_t tag) {
  for (size_t i = 0; i < sizeof required / sizeof required[0]; i++) {
    if (required[i].tag != tag)
      continue;
    const char *c = required[i].classes;
    if (!c || strncmp(p->sop_class, c, strlen(c)) == 0)
      return required[i].type;
  }
  return 3;
}

static int is_text_vr(si_vr vr) {
  return vr == SI_VR_LO || vr == SI_VR_SH || vr == SI_VR_ST || vr == SI_VR_LT || vr == SI_VR_UT ||
         vr == SI_VR_UC || vr == SI_VR_PN;
}

static action single(unsigned code, si_vr vr) {
  switch (code) {
  case DEID_D:
    return vr == SI_VR_SQ ? DO_CLEAN : DO_DUMMY;
  case DEID_Z:
    return DO_EMPTY;
  case DEID_U:
    return vr == SI_VR_UI ? DO_UID : DO_DUMMY;
  case DEID_K:
    return DO_KEEP;
  case DEID_C:
    return DO_CLEAN;
  default:
    return DO_REMOVE;
  }
}

/* The Basic Profile's action for a row's code. */
static action basic_action(const deid_profile *p, const deid_profile_row *row, uint32_t tag,
                           si_vr vr) {
  unsigned code = row->basic;
  if (code & DEID_USTAR)
    return vr == SI_VR_SQ ? DO_KEEP : DO_REMOVE;
  if (!(code & (code - 1)))
    return single(code, vr);
  int type = required_type(p, tag);
  if (type == 1)
    return single(code & DEID_D ? DEID_D : DEID_Z, vr);
  if (type == 2)
    return single(code & DEID_Z ? DEID_Z : DEID_D, vr);
  return single(code & DEID_X ? DEID_X : code & DEID_Z ? DEID_Z : DEID_D, vr);
}

static action row_action(const deid_profile *p, const deid_profile_row *row, uint32_t tag, si_vr vr,
                         int *by_option) {
  int keep = 0, clean = 0, dates = 0;
  for (int i = 0; i < DEID_OPTION_COLUMNS; i++) {
    if (!(p->bits & (1u << (i + 1))) || !row->opt[i])
      continue;
    keep |= row->opt[i] == 'K';
    if (row->opt[i] == 'C') {
      dates |= i == OPT_MODIFIED_DATES;
      clean |= i != OPT_MODIFIED_DATES;
    }
  }
  *by_option = keep || clean || dates;
  if (keep)
    return DO_KEEP;
  if (dates) {
    if (vr == SI_VR_DA || vr == SI_VR_DT)
      return DO_SHIFT;
    if (vr == SI_VR_TM && p->run->opts->keep_times)
      return DO_KEEP;
    if (!clean)
      return basic_action(p, row, tag, vr);
  }
  if (clean)
    return DO_CLEAN;
  return basic_action(p, row, tag, vr);
}

/* Dates and times the table does not list (PS3.15 E.1.1 note 4). */
static action unlisted_temporal(const deid_profile *p, si_vr vr) {
  if (p->bits & SI_DEID_RETAIN_LONG_FULL_DATES)
    return DO_KEEP;
  if (p->bits & SI_DEID_RETAIN_LONG_MODIFIED_DATES) {
    if (vr != SI_VR_TM)
      return DO_SHIFT;
    if (p->run->opts->keep_times)
      return DO_KEEP;
  }
  return DO_EMPTY;
}

static action private_action(const deid_profile *p, const si_dataset *ds, const si_element *el) {
  if (!(p->bits & SI_DEID_RETAIN_SAFE_PRIVATE))
    return DO_REMOVE;
  uint16_t group = SI_TAG_GROUP(el->tag), elem = SI_TAG_ELEMENT(el->tag);
  if (elem < 0x0010)
    return DO_REMOVE; /* group length and reserved elements */
  if (elem <= 0x00FF) {
    size_t n = el->value_len;
    const char *v = (const char *)el->value;
    while (n && (v[n - 1] == ' ' || v[n - 1] == 0))
      n--;
    return v && deid_safe_private_creator(group, v, n) ? DO_KEEP : DO_REMOVE;
  }
  size_t len;
  const char *creator = si_dataset_private_creator(ds, el->tag, &len);
  if (creator && deid_safe_private(group, (uint8_t)(elem & 0xFF), creator, len))
    return DO_KEEP;
  return DO_REMOVE;
}

/* The action for el in ds, before pseudonyms. */
static action decide(deid_profile *p, const si_dataset *ds, const si_element *el,
                     const deid_profile_row **row_out) {
  uint32_t tag = el->tag;
  uint16_t group = SI_TAG_GROUP(tag);
  *row_out = NULL;
  if (group & 1)
    return private_action(p, ds, el);
  if (group >= 0x6000 && group <= 0x601E && !(p->bits & SI_DEID_CLEAN_GRAPHICS))
    return DO_REMOVE; /* the whole overlay, not only its data */
  const deid_profile_row *row = deid_profile_lookup(tag);
  *row_out = row;
  if (!row) {
    if (el->vr == SI_VR_DA || el->vr == SI_VR_DT || el->vr == SI_VR_TM)
      return unlisted_temporal(p, el->vr);
    if (p->clean_unlisted && el->vr == SI_VR_PN)
      return DO_DUMMY;
    if (p->clean_unlisted && is_text_vr(el->vr))
      return DO_CLEAN;
    return DO_KEEP;
  }
  int by_option;
  return row_action(p, row, tag, el->vr, &by_option);
}

static si_walk_action visit(void *ctx, si_file *file, si_dataset *ds, si_element *el,
                            unsigned depth, si_error *err);

/* A D or C sequence: its items by their own rows, unlisted text cleaned. */
static si_walk_action clean_items(deid_profile *p, si_file *file, si_element *el, si_error *err) {
  int was = p->clean_unlisted;
  p->clean_unlisted = 1;
  si_dataset **items = el->items;
  size_t count = el->item_count;
  si_status st = SI_OK;
  for (size_t k = 0; k < count && st == SI_OK; k++)
    st = si_ds_walk(file, items[k], visit, p, err);
  p->clean_unlisted = was;
  return st == SI_OK ? SI_WALK_SKIP : SI_WALK_ERROR;
}

static si_walk_action done(si_status st) { return st == SI_OK ? SI_WALK_SKIP : SI_WALK_ERROR; }

static const char *pseudonym(const deid_profile *p, uint32_t tag) {
  const si_deid_subject *s = p->run->subject;
  if (!s)
    return NULL;
  const char *code = tag == TAG_PATIENT_NAME || tag == TAG_PATIENT_ID ? s->patient_code
                     : tag == TAG_ACCESSION || tag == TAG_STUDY_ID    ? s->study_code
                                                                      : NULL;
  return code && *code ? code : NULL;
}

static si_walk_action visit(void *ctx, si_file *file, si_dataset *ds, si_element *el,
                            unsigned depth, si_error *err) {
  (void)depth;
  deid_profile *p = ctx;
  si_deid_report *report = p->run->report;
  if (deid_decided_has(p->run, ds, el->tag))
    return SI_WALK_KEEP;
  const deid_profile_row *row;
  action a = decide(p, ds, el, &row);
  const char *code = a != DO_KEEP ? pseudonym(p, el->tag) : NULL;
  if (code) {
    si_status st = deid_record_element(p, ds, el, 1, err);
    if (st != SI_OK)
      return SI_WALK_ERROR;
    report->replaced++;
    return done(si_ds_set_text(file, ds, el->tag, code, err));
  }
  if (a == DO_CLEAN) {
    if (el->vr == SI_VR_SQ)
      return clean_items(p, file, el, err);
    if (!is_text_vr(el->vr) && el->vr != SI_VR_AE)
      return SI_WALK_KEEP;
    if (!deid_text_identifies(p, ds, el))
      return SI_WALK_KEEP;
    a = row ? basic_action(p, row, el->tag, el->vr) : DO_REMOVE;
    if (a == DO_CLEAN || a == DO_KEEP)
      a = DO_DUMMY;
  }
  switch (a) {
  case DO_KEEP:
    if (el->tag == TAG_PATIENT_AGE)
      return deid_cap_age(p, ds, el, err) == SI_OK ? SI_WALK_KEEP : SI_WALK_ERROR;
    return SI_WALK_KEEP;
  case DO_REMOVE:
    if (deid_record_element(p, ds, el, 0, err) != SI_OK)
      return SI_WALK_ERROR;
    report->removed++;
    return SI_WALK_REMOVE;
  case DO_EMPTY:
    return done(deid_set_empty(p, ds, el, err));
  case DO_DUMMY:
    return done(deid_set_dummy(p, ds, el, err));
  case DO_UID:
    return done(deid_remap_uids(p, ds, el, err));
  case DO_SHIFT:
    return done(deid_shift_element(p, ds, el, err));
  default:
    return SI_WALK_KEEP;
  }
}

/* The file meta: the writer regenerates its identity; what a source wrote
 * after it (AE titles, private information) goes, and the instance UID is
 * remapped as the data set's is. */
static si_walk_action visit_meta(void *ctx, si_file *file, si_dataset *ds, si_element *el,
                                 unsigned depth, si_error *err) {
  (void)file, (void)depth;
  deid_profile *p = ctx;
  uint16_t e = SI_TAG_ELEMENT(el->tag);
  if (e == 0x0003 && !(p->bits & SI_DEID_RETAIN_UIDS))
    return done(deid_remap_uids(p, ds, el, err));
  if (e <= 0x0013)
    return SI_WALK_KEEP;
  if (deid_record_element(p, ds, el, 0, err) != SI_OK)
    return SI_WALK_ERROR;
  p->run->report->removed++;
  return SI_WALK_REMOVE;
}

/* ---- identifiers Clean looks for ---- */

static void add_identifier(deid_identifiers *ids, const char *s, size_t n) {
  while (n && (s[n - 1] == ' ' || s[n - 1] == 0))
    n--;
  while (n && *s == ' ')
    s++, n--;
  if (n < 3 || ids->count == DEID_MAX_IDENTIFIERS)
    return;
  char *copy = malloc(n + 1);
  if (!copy)
    return; /* fewer identifiers: Clean then keeps less, never more */
  for (size_t i = 0; i < n; i++)
    copy[i] = (char)tolower((unsigned char)s[i]);
  copy[n] = 0;
  ids->text[ids->count++] = copy;
}

/* The top data set's identifying values that the profile does not keep,
 * whole and split into name components and values. */
static void collect_identifiers(deid_profile *p) {
  const si_dataset *ds = si_file_dataset(p->run->file);
  for (size_t i = 0; i < si_dataset_count(ds); i++) {
    const si_element *el = si_dataset_at(ds, i);
    if (el->vr != SI_VR_PN && !deid_is_identifying_tag(el->tag))
      continue;
    if (SI_TAG_GROUP(el->tag) & 1 || !si_vr_is_string(el->vr))
      continue;
    const deid_profile_row *row;
    if (decide(p, ds, el, &row) == DO_KEEP)
      continue;
    char *text = NULL;
    size_t n = 0;
    si_error ignored;
    if (si_get_string_n(ds, el->tag, SIZE_MAX, &text, &n, &ignored) != SI_OK)
      continue;
    add_identifier(&p->ids, text, n);
    size_t start = 0;
    for (size_t k = 0; k <= n; k++)
      if (k == n || text[k] == '\\' || text[k] == '^' || text[k] == '=') {
        if (start > 0 || k < n)
          add_identifier(&p->ids, text + start, k - start);
        start = k + 1;
      }
    free(text);
  }
}

si_status deid_profile_apply(si_deid_run *run, si_error *err) {
  deid_profile p = {.run = run, .bits = run->opts->profile};
  if (!(p.bits & SI_DEID_PROFILE_BASIC))
    return SI_OK;
  si_error ignored;
  if (si_get_uid(si_file_dataset(run->file), SI_TAG(0x0008, 0x0016), p.sop_class, &ignored) !=
      SI_OK)
    p.sop_class[0] = 0;
  collect_identifiers(&p);
  si_status st = si_ds_walk(run->file, si_file_dataset_mut(run->file), visit, &p, err);
  if (st == SI_OK)
    st = si_ds_walk(run->file, si_file_meta_mut(run->file), visit_meta, &p, err);
  if (st == SI_OK)
    st = deid_write_method(&p, err);
  for (size_t i = 0; i < p.ids.count; i++)
    free(p.ids.text[i]);
  return st;
}
