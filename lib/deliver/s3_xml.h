/* The few facts the s3 destination needs from an S3 store's XML answers
 * (an error's <Code> and <Message>, InitiateMultipartUpload's <UploadId>,
 * CompleteMultipartUpload's <ETag>): a minimal, bounded tag extractor. The
 * answers come from the network and are untrusted: any bytes are read
 * without crashing or reading out of bounds (fuzz/fuzz_s3_xml.c).
 * Internal to lib/deliver. */
#ifndef SENDIT_DELIVER_S3_XML_H
#define SENDIT_DELIVER_S3_XML_H

#include <stddef.h>

#include "sendit/error.h"

/* The text of the first element named `tag` (<tag> or <tag attr="...">,
 * never <tagX>) in xml[size], which need not be NUL-terminated, up to its
 * </tag>, with XML's five named entities and numeric character references
 * decoded (to UTF-8), control characters as spaces, into out[out_size]
 * (always NUL-terminated when out_size > 0).
 * SI_ERR_NOT_FOUND: no such element; SI_ERR_FORMAT: the element holds
 * markup, is not closed, or has a bad reference; SI_ERR_LIMIT: the text
 * does not fit out. No si_error: callers name the peer themselves. */
si_status si_s3_xml_text(const char *xml, size_t size, const char *tag, char *out, size_t out_size);

#endif
