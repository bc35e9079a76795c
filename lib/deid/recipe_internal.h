/* The model of a parsed deid recipe (sendit/deid_recipe.h), shared by the
 * parser (recipe_parse.c), the field matcher (recipe_match.c), the filters
 * (recipe_filter.c) and the header actions (recipe_apply.c). Everything is
 * owned by the si_deid_recipe and freed with it; after parsing it is read
 * only, so threads may share one recipe. */
#ifndef SENDIT_DEID_RECIPE_INTERNAL_H
#define SENDIT_DEID_RECIPE_INTERNAL_H

#include <regex.h>
#include <stddef.h>
#include <stdint.h>

#include "sendit/deid_recipe.h"
#include "sendit/dicom.h"

/* Bounds on untrusted recipes: beyond them parsing fails with SI_ERR_LIMIT. */
#define RECIPE_MAX_BYTES (4u << 20)
#define RECIPE_MAX_LINE 4096
#define RECIPE_MAX_ACTIONS 20000
#define RECIPE_MAX_GROUPS 256
#define RECIPE_MAX_GROUP_ACTIONS 1000
#define RECIPE_MAX_SECTIONS 64
#define RECIPE_MAX_LABELS 5000
#define RECIPE_MAX_LINES_PER_LABEL 256
#define RECIPE_MAX_CRITERIA_PER_LINE 32
#define RECIPE_MAX_COORDINATES 64
#define RECIPE_MAX_REGEX 512
#define RECIPE_MAX_REPEAT 255

typedef enum recipe_action_kind {
  RECIPE_ADD,
  RECIPE_BLANK,
  RECIPE_JITTER,
  RECIPE_KEEP,
  RECIPE_REPLACE,
  RECIPE_REMOVE
} recipe_action_kind;

/* A deid (Python) expression, compiled: plain alternatives of literal text
 * ("CT|MR", "Date") are searched with strstr and compared at the ends (most
 * recipes' expressions, and much faster), anything else with a POSIX
 * regular expression (recipe_regex_compile). */
typedef struct recipe_pattern {
  regex_t re;
  int has_re;
  char *alts_buf;    /* the alternatives, NUL-separated */
  const char **alts; /* literal alternatives when !has_re */
  size_t alt_count;
  int anchor; /* 0 anywhere, 1 at the start (startswith), 2 at the end (endswith) */
} recipe_pattern;

/* How a field spec selects elements (deid's "expanders"). */
typedef enum recipe_field_kind {
  FIELD_EXACT,      /* keyword, nested name, dictionary name or tag */
  FIELD_PRIVATE,    /* (gggg,"CREATOR",ee) */
  FIELD_STARTSWITH, /* startswith:EXPR */
  FIELD_ENDSWITH,   /* endswith:EXPR */
  FIELD_CONTAINS,   /* contains:EXPR */
  FIELD_EXCEPT,     /* except:EXPR (every field not matching) */
  FIELD_SELECT_GROUP,
  FIELD_SELECT_VR,
  FIELD_ALL,
  FIELD_FIELDS, /* fields:NAME: the elements a %fields group selected */
  FIELD_VALUES  /* values:NAME: the elements holding a value a %values group collected */
} recipe_field_kind;

typedef struct recipe_field {
  recipe_field_kind kind;
  char *text; /* as written */
  /* FIELD_EXACT: text itself; has_tag when it is a tag form; keyword_tag
   * when text is a dictionary keyword (its tag: the same test, faster). */
  int has_tag;
  uint32_t tag;
  int has_keyword_tag;
  uint32_t keyword_tag;
  /* FIELD_PRIVATE: group, creator (trailing spaces removed), low byte. */
  char *creator;
  uint8_t private_element;
  /* Expanders with an expression: the lowercased expression, compiled. */
  char *expr;
  recipe_pattern pat;
  uint16_t group;   /* FIELD_SELECT_GROUP */
  si_vr vr;         /* FIELD_SELECT_VR */
  size_t group_ref; /* FIELD_FIELDS / FIELD_VALUES: index into recipe->groups */
} recipe_field;

/* The value of an action. */
typedef enum recipe_value_kind {
  VALUE_NONE,
  VALUE_LITERAL,
  VALUE_VAR,       /* var:NAME */
  VALUE_FUNC,      /* func:NAME, one of the built-ins (recipe_func) */
  VALUE_DEID_FUNC, /* deid_func:NAME [key=value ...] */
  VALUE_EXPANDER   /* REMOVE FIELD contains:EXPR and friends (deid's "value expansion") */
} recipe_value_kind;

/* func: built-ins (the README's table). */
typedef enum recipe_func {
  FUNC_GENERATE_UID, /* keyed UID remap of the element's value */
  FUNC_DAY_SHIFT,    /* the subject's day shift (for JITTER) */
  FUNC_IS_NAME       /* REMOVE: the value holds a part of PatientName */
} recipe_func;

/* deid_func: deid's shipped functions. */
typedef enum recipe_deid_func {
  DEID_FUNC_JITTER,       /* days=N years=N */
  DEID_FUNC_PYDICOM_UUID, /* prefix=P stable_remapping=true|false */
  DEID_FUNC_DICOM_UUID,   /* org_root=R */
  DEID_FUNC_SUFFIX_UUID,
  DEID_FUNC_BASIC_UUID
} recipe_deid_func;

/* Value expanders of a conditional REMOVE. */
typedef enum recipe_criterion_kind {
  CRIT_CONTAINS,
  CRIT_NOTCONTAINS,
  CRIT_EQUALS,
  CRIT_NOTEQUALS,
  CRIT_MISSING,
  CRIT_PRESENT,
  CRIT_EMPTY
} recipe_criterion_kind;

typedef struct recipe_value {
  recipe_value_kind kind;
  char *text; /* literal, var name, func name, expression */
  int func;   /* recipe_func / recipe_deid_func / recipe_criterion_kind */
  /* deid_func options */
  int32_t days;       /* jitter: days + 365 * years (default 1) */
  char *prefix;       /* pydicom_uuid prefix (default "2.25.") */
  char *org_root;     /* dicom_uuid */
  recipe_pattern pat; /* VALUE_EXPANDER contains / notcontains */
} recipe_value;

typedef struct recipe_action {
  recipe_action_kind kind;
  recipe_field field;
  recipe_value value;
  unsigned line;
} recipe_action;

/* %fields NAME / %values NAME: FIELD spec, or (values) SPLIT spec by=X;minlength=N. */
typedef struct recipe_group_action {
  int split; /* 0: FIELD, 1: SPLIT */
  recipe_field field;
  char *split_by;   /* default " " */
  size_t minlength; /* default 1 */
  unsigned line;
} recipe_group_action;

typedef struct recipe_group {
  char *name;
  int is_values; /* %values (1) or %fields (0) */
  recipe_group_action *actions;
  size_t count, capacity;
} recipe_group;

/* One criterion of a filter line, e.g. "contains Modality CT|MR". */
typedef struct recipe_criterion {
  recipe_criterion_kind kind;
  recipe_field field; /* FIELD_EXACT or FIELD_PRIVATE only */
  char *value;        /* NULL for missing / present / empty */
  recipe_pattern pat; /* contains / notcontains: the lowercased value */
  int op;             /* how it joins the one before on its line: 0 first, 1 and, 2 or */
} recipe_criterion;

/* A line of a LABEL: its criteria (joined by inner + and ||) and how the
 * line joins the lines before it (0 none: and; 1 "+" and; 2 "||" or). */
typedef struct recipe_line {
  int op;
  recipe_criterion *criteria;
  size_t count;
  unsigned line;
} recipe_line;

/* coordinates / ctpcoordinates / keepcoordinates lines: kept in the model
 * for a pixel cleaner; sendit does not clean pixels (README). */
typedef struct recipe_coordinates {
  char *kind; /* "coordinates", "ctpcoordinates", "keepcoordinates" */
  char *text; /* "0,0,512,110", "all" or "from:FIELD" */
} recipe_coordinates;

typedef struct recipe_label {
  char *name;
  recipe_line *lines;
  size_t count;
  recipe_coordinates *coordinates;
  size_t coordinate_count;
  unsigned line;
} recipe_label;

typedef struct recipe_filter {
  char *name;
  recipe_label *labels;
  size_t count, capacity;
} recipe_filter;

struct si_deid_recipe {
  char *name;
  char *rules_name; /* "deid recipe NAME" for si_deid_rules */
  int has_format, has_header;
  recipe_action *actions;
  size_t action_count, action_capacity;
  recipe_group *groups;
  size_t group_count;
  recipe_filter *filters;
  size_t filter_count;
};

/* ---- recipe_match.c ---- */

/* Compiles a deid (Python) regular expression as POSIX ERE: \d \D become
 * bracket expressions; back-references, look-around, lazy quantifiers and
 * repetition counts above RECIPE_MAX_REPEAT are refused (they are slow or
 * mean something else in ERE). why gets the reason on failure. */
int recipe_regex_compile(regex_t *re, const char *expr, int icase, char *why, size_t why_size);

/* Compiles expr (anchor as in recipe_pattern) into p; 0 and why on failure. */
int recipe_pattern_compile(recipe_pattern *p, const char *expr, int anchor, char *why,
                           size_t why_size);
/* Whether p finds a match in s. */
int recipe_pattern_search(const recipe_pattern *p, const char *s);
void recipe_pattern_free(recipe_pattern *p);

/* One element of a data set as deid sees it: flattened at every depth, the
 * file meta included. */
typedef struct recipe_elem {
  si_dataset *ds; /* holding data set (top, meta or an item) */
  uint32_t tag;
  si_vr vr;
  size_t parent; /* index of the sequence element holding ds, or SIZE_MAX */
  int is_meta;
  int gone;             /* removed (or inside a removed sequence) */
  char *name;           /* nested name "Seq__Child" (deid's DicomField.name) */
  char *lname;          /* the same, lower-cased */
  const char *keyword;  /* dictionary keyword ("" for private or unknown tags) */
  const char *dictname; /* dictionary name ("Private tag data" for private ones) */
  char *creator;        /* private creator of a private element, else NULL */
  char *lprivate;       /* gggg,"creator",ee lower-cased (with a creator), else NULL */
  char tag8[9];         /* GGGGEEEE */
  char paren[12];       /* (gggg,eeee) */
  unsigned flags;       /* RECIPE_ELEM_* */
} recipe_elem;

enum {
  RECIPE_ELEM_KEEP = 1u << 0,     /* a KEEP selected it (or an enclosing sequence) */
  RECIPE_ELEM_NOREMOVE = 1u << 1, /* a REPLACE / JITTER selects it: REMOVE leaves it */
  RECIPE_ELEM_CLEARED = 1u << 2,  /* a sequence BLANK emptied: its items are gone */
  RECIPE_ELEM_DECIDED = 1u << 3   /* an action changed or kept it */
};

typedef struct recipe_elems {
  recipe_elem *v;
  size_t count, capacity;
} recipe_elems;

/* Flattens the file's meta and data set into elems (every depth), leaving
 * out deid's protected fields (PixelData, the palette LUT data,
 * VOILUTSequence, FileMetaInformationGroupLength, FileMetaInformationVersion,
 * TransferSyntaxUID, ImplementationClassUID). */
si_status recipe_elems_collect(si_file *file, recipe_elems *elems, si_error *err);
void recipe_elems_free(recipe_elems *elems);
/* Appends el of ds (an element an ADD created). */
si_status recipe_elems_add(recipe_elems *elems, si_dataset *ds, const si_element *el, size_t parent,
                           int is_meta, si_error *err);

/* Whether elems->v[i] is still in the file (neither it nor an enclosing
 * sequence removed, no enclosing sequence emptied). */
int recipe_elem_alive(const recipe_elems *elems, size_t i);

/* Whether field (not FIELD_FIELDS / FIELD_VALUES) selects elem. */
int recipe_field_matches(const recipe_field *field, const recipe_elem *elem);

/* Parses the exact / private forms of a field (keyword, tag, private
 * creator) into out; 0 when text is not such a form (then out is
 * FIELD_EXACT by name). */
int recipe_field_parse_tag(const char *text, recipe_field *out);

/* An element's value as deid's str(value) sees it, into *text (malloc'd):
 * strings decoded and stripped (multiple values joined by backslashes),
 * numbers in decimal. *text NULL when there is nothing to compare: *none 1
 * when deid's value is None (a binary element without bytes), 0 for a
 * sequence or bulk data. SI_ERR_NOMEM only. */
si_status recipe_elem_text(const si_dataset *ds, const si_element *el, char **text, int *none);

/* The top-level element of ds that an exact / private field names, or NULL. */
const si_element *recipe_field_find(const si_dataset *ds, const recipe_field *field);

/* ---- recipe_filter.c ---- */

/* Evaluates a criterion against ds (deid's apply_filter). */
int recipe_criterion_eval(const recipe_criterion *c, const si_dataset *ds);

/* Whether the LABEL matches ds (deid's left-to-right evaluation). */
int recipe_label_matches(const recipe_label *label, const si_dataset *ds);

/* ---- recipe_parse.c ---- */
void recipe_field_free(recipe_field *field);

#endif
