/* The leak scan's own table of identifying tags: what it collects from an
 * original, wherever the tag sits (top level, any depth of sequences, file
 * meta). Kept apart from the engine's PS3.15 table (lib/deid/profile_table.c)
 * on purpose: the check must not share the engine's view of what to clean,
 * or a row missing there would be missing here too. The UID rows are every
 * UI attribute that PS3.15 Table E.1-1 marks U (53: all but the two
 * sequences it marks X/Z/U* and the command group's Requested SOP Instance
 * UID, which no file holds); the others are the
 * attributes that name or locate a person, a patient's ids, or the
 * institution and device (kinds a Retain option may allow). */
#include <stdlib.h>
#include <string.h>

#include "deid/verify_internal.h"

static const verify_tag tags[] = {
    /* File meta */
    {0x00020003, "uid"},    /* MediaStorageSOPInstanceUID */
    {0x00020016, "device"}, /* SourceApplicationEntityTitle: the sending station */
    {0x00041511, "uid"},    /* ReferencedSOPInstanceUIDInFile (DICOMDIR) */
    /* Identifying: study, request, institution, persons */
    {0x00080014, "uid"},         /* InstanceCreatorUID */
    {0x00080017, "uid"},         /* AcquisitionUID */
    {0x00080018, "uid"},         /* SOPInstanceUID */
    {0x00080019, "uid"},         /* PyramidUID */
    {0x00080050, "accession"},   /* AccessionNumber */
    {0x00080058, "uid"},         /* FailedSOPInstanceUIDList */
    {0x00080080, "institution"}, /* InstitutionName */
    {0x00080081, "institution"}, /* InstitutionAddress */
    {0x00080090, "physician"},   /* ReferringPhysicianName */
    {0x00080092, "address"},     /* ReferringPhysicianAddress */
    {0x00080094, "telephone"},   /* ReferringPhysicianTelephoneNumbers */
    {0x00081010, "device"},      /* StationName */
    {0x00081040, "institution"}, /* InstitutionalDepartmentName */
    {0x00081048, "physician"},   /* PhysiciansOfRecord */
    {0x00081050, "physician"},   /* PerformingPhysicianName */
    {0x00081060, "physician"},   /* NameOfPhysiciansReadingStudy */
    {0x00081070, "operator"},    /* OperatorsName */
    {0x00081155, "uid"},         /* ReferencedSOPInstanceUID */
    {0x00081195, "uid"},         /* TransactionUID */
    {0x00083010, "uid"},         /* IrradiationEventUID */
    /* Patient */
    {0x00100010, "patient-name"}, /* PatientName */
    {0x00100020, "patient-id"},   /* PatientID */
    {0x00100021, "patient-id"},   /* IssuerOfPatientID */
    {0x00100030, "birth-date"},   /* PatientBirthDate */
    {0x00101000, "patient-id"},   /* OtherPatientIDs (retired) */
    {0x00101001, "patient-name"}, /* OtherPatientNames */
    {0x00101005, "patient-name"}, /* PatientBirthName */
    {0x00101040, "address"},      /* PatientAddress */
    {0x00101060, "patient-name"}, /* PatientMotherBirthName */
    {0x00101090, "patient-id"},   /* MedicalRecordLocator */
    {0x00102154, "telephone"},    /* PatientTelephoneNumbers */
    {0x00102297, "person"},       /* ResponsiblePerson */
    {0x00102299, "person"},       /* ResponsibleOrganization */
    {0x00181000, "device"},       /* DeviceSerialNumber */
    {0x00181002, "uid"},          /* DeviceUID */
    {0x0018100B, "uid"},          /* ManufacturerDeviceClassUID */
    {0x00182042, "uid"},          /* TargetUID */
    {0x0020000D, "uid"},          /* StudyInstanceUID */
    {0x0020000E, "uid"},          /* SeriesInstanceUID */
    {0x00200010, "study-id"},     /* StudyID */
    {0x00200052, "uid"},          /* FrameOfReferenceUID */
    {0x00200200, "uid"},          /* SynchronizationFrameOfReferenceUID */
    {0x00209161, "uid"},          /* ConcatenationUID */
    {0x00209164, "uid"},          /* DimensionOrganizationUID */
    {0x00281199, "uid"},          /* PaletteColorLookupTableUID */
    {0x00281214, "uid"},          /* LargePaletteColorLookupTableUID */
    {0x00321032, "physician"},    /* RequestingPhysician */
    {0x00380010, "patient-id"},   /* AdmissionID */
    {0x00380300, "address"},      /* CurrentPatientLocation */
    {0x00380400, "address"},      /* PatientInstitutionResidence */
    {0x003A0310, "uid"},          /* MultiplexGroupUID */
    {0x00400006, "physician"},    /* ScheduledPerformingPhysicianName */
    {0x00400009, "request-id"},   /* ScheduledProcedureStepID */
    {0x00400010, "device"},       /* ScheduledStationName */
    {0x00400241, "device"},       /* PerformedStationAETitle */
    {0x00400242, "device"},       /* PerformedStationName */
    {0x00400253, "request-id"},   /* PerformedProcedureStepID */
    {0x00400554, "uid"},          /* SpecimenUID */
    {0x00401001, "request-id"},   /* RequestedProcedureID */
    {0x00401103, "telephone"},    /* PersonTelephoneNumbers */
    {0x00402008, "person"},       /* OrderEnteredBy */
    {0x00402009, "address"},      /* OrderEntererLocation */
    {0x00402010, "telephone"},    /* OrderCallbackPhoneNumber */
    {0x00402016, "request-id"},   /* PlacerOrderNumberImagingServiceRequest */
    {0x00402017, "request-id"},   /* FillerOrderNumberImagingServiceRequest */
    {0x00404023, "uid"},          /* ReferencedGeneralPurposeScheduledProcedureStepTransactionUID */
    {0x0040A075, "physician"},    /* VerifyingObserverName */
    {0x0040A123, "person"},       /* PersonName */
    {0x0040A124, "uid"},          /* UID */
    {0x0040A171, "uid"},          /* ObservationUID */
    {0x0040A172, "uid"},          /* ReferencedObservationUIDTrial */
    {0x0040A402, "uid"},          /* ObservationSubjectUIDTrial */
    {0x0040DB0C, "uid"},          /* TemplateExtensionOrganizationUID */
    {0x0040DB0D, "uid"},          /* TemplateExtensionCreatorUID */
    {0x00620021, "uid"},          /* TrackingUID */
    {0x00640003, "uid"},          /* SourceFrameOfReferenceUID */
    {0x00700084, "person"},       /* ContentCreatorName */
    {0x0070031A, "uid"},          /* FiducialUID */
    {0x00701101, "uid"},          /* PresentationDisplayCollectionUID */
    {0x00701102, "uid"},          /* PresentationSequenceCollectionUID */
    {0x00880140, "uid"},          /* StorageMediaFileSetUID */
    {0x04000100, "uid"},          /* DigitalSignatureUID */
    {0x30060024, "uid"},          /* ReferencedFrameOfReferenceUID */
    {0x300600C2, "uid"},          /* RelatedFrameOfReferenceUID */
    {0x300A0013, "uid"},          /* DoseReferenceUID */
    {0x300A0083, "uid"},          /* ReferencedDoseReferenceUID */
    {0x300A0609, "uid"},          /* TreatmentPositionGroupUID */
    {0x300A0650, "uid"},          /* PatientSetupUID */
    {0x300A0700, "uid"},          /* TreatmentSessionUID */
    {0x300A0785, "uid"},          /* ReferencedTreatmentPositionGroupUID */
    {0x30100006, "uid"},          /* ConceptualVolumeUID */
    {0x3010000B, "uid"},          /* ReferencedConceptualVolumeUID */
    {0x30100013, "uid"},          /* ConstituentConceptualVolumeUID */
    {0x30100015, "uid"},          /* SourceConceptualVolumeUID */
    {0x30100031, "uid"},          /* ReferencedFiducialsUID */
    {0x3010003B, "uid"},          /* RTTreatmentPhaseUID */
    {0x3010006E, "uid"},          /* DosimetricObjectiveUID */
    {0x3010006F, "uid"},          /* ReferencedDosimetricObjectiveUID */
    {0x40080102, "physician"},    /* InterpretationRecorder (retired) */
    {0x4008010C, "physician"},    /* InterpretationAuthor (retired) */
    {0x40080114, "physician"},    /* PhysicianApprovingInterpretation (retired) */
};

/* Every kind a value can have; "date" (event_dates) and "replaced" (added
 * by the caller) have no rows. */
static const char *const kinds[] = {
    "patient-name", "patient-id", "birth-date", "accession", "address", "telephone",
    "institution",  "physician",  "operator",   "person",    "device",  "study-id",
    "request-id",   "uid",        "date",       "replaced",
};

/* Placeholder values that writers and de-identifiers put in identifying
 * elements: never identifying on their own (compared folded, whole value). */
static const char *const common[] = {
    "anonymous",     "anonymized", "anonymised", "anonymize", "anon",     "removed", "unknown",
    "none",          "null",       "n/a",        "yes",       "no",       "test",    "demo",
    "phantom",       "patient",    "doctor",     "physician", "hospital", "clinic",  "department",
    "radiology",     "other",      "default",    "station",   "operator", "nobody",  "deidentified",
    "de-identified", "redacted",   "xxx",        "xxxx",      "xxxxx",    "empty",   "missing",
};

static int tag_cmp(const void *key, const void *row) {
  uint32_t a = *(const uint32_t *)key, b = ((const verify_tag *)row)->tag;
  return a < b ? -1 : a > b;
}

const char *verify_kind_static(const char *kind);

const char *verify_tag_kind(uint32_t tag) {
  const verify_tag *row =
      bsearch(&tag, tags, sizeof tags / sizeof tags[0], sizeof tags[0], tag_cmp);
  return row ? verify_kind_static(row->kind) : NULL;
}

const char *verify_kind_static(const char *kind) {
  for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
    if (strcmp(kinds[i], kind) == 0)
      return kinds[i];
  return NULL;
}

int si_verify_kind_valid(const char *kind) { return kind && verify_kind_static(kind) != NULL; }

int verify_is_common(const char *folded, size_t len) {
  for (size_t i = 0; i < sizeof common / sizeof common[0]; i++)
    if (strlen(common[i]) == len && memcmp(common[i], folded, len) == 0)
      return 1;
  return 0;
}

int verify_is_bulk(uint32_t tag) {
  uint16_t group = SI_TAG_GROUP(tag), element = SI_TAG_ELEMENT(tag);
  if (group == 0x7FE0)
    return 1;
  if ((group & 0xFF01) == 0x6000 && element == 0x3000)
    return 1; /* OverlayData */
  if ((group & 0xFF01) == 0x5000 && element == 0x3000)
    return 1; /* CurveData (retired) */
  return tag == 0x54001010;
}
