# Man pages: sendit(1) and sendit.ini(5), written by the built program
# itself (`sendit manpage 1|5`, src/manpage*.c) from its command table, usage
# texts and configuration key tables, so they cannot drift from it. They are
# remade whenever sendit is rebuilt, into ${CMAKE_BINARY_DIR}/man, and
# installed under ${CMAKE_INSTALL_MANDIR}. Each page is written to a temporary
# name and renamed, so a failed run leaves no page that looks up to date.
#
# The date on the pages' title line is fixed for reproducible builds:
# SOURCE_DATE_EPOCH when it is set (string(TIMESTAMP) honours it), else
# SENDIT_RELEASE_DATE.
if(SENDIT_DICOM_ONLY)
  return()
endif()
include(GNUInstallDirs)

set(SENDIT_RELEASE_DATE "2026-12-02" CACHE STRING
    "Date on the man pages' title line (YYYY-MM-DD) when SOURCE_DATE_EPOCH is not set")
if(DEFINED ENV{SOURCE_DATE_EPOCH})
  string(TIMESTAMP SENDIT_MAN_DATE "%Y-%m-%d" UTC)
else()
  set(SENDIT_MAN_DATE "${SENDIT_RELEASE_DATE}")
endif()

set(SENDIT_MAN_DIR ${CMAKE_BINARY_DIR}/man)
set(SENDIT_MAN_PAGES ${SENDIT_MAN_DIR}/sendit.1 ${SENDIT_MAN_DIR}/sendit.ini.5)
add_custom_command(
  OUTPUT ${SENDIT_MAN_PAGES}
  COMMAND ${CMAKE_COMMAND} -E make_directory ${SENDIT_MAN_DIR}
  COMMAND sendit manpage 1 --date ${SENDIT_MAN_DATE} > ${SENDIT_MAN_DIR}/sendit.1.tmp
  COMMAND sendit manpage 5 --date ${SENDIT_MAN_DATE} > ${SENDIT_MAN_DIR}/sendit.ini.5.tmp
  COMMAND ${CMAKE_COMMAND} -E rename ${SENDIT_MAN_DIR}/sendit.1.tmp ${SENDIT_MAN_DIR}/sendit.1
  COMMAND ${CMAKE_COMMAND} -E rename ${SENDIT_MAN_DIR}/sendit.ini.5.tmp
          ${SENDIT_MAN_DIR}/sendit.ini.5
  DEPENDS sendit
  COMMENT "Writing the man pages sendit.1 and sendit.ini.5"
  VERBATIM)
add_custom_target(sendit_man ALL DEPENDS ${SENDIT_MAN_PAGES})

install(FILES ${SENDIT_MAN_DIR}/sendit.1 DESTINATION ${CMAKE_INSTALL_MANDIR}/man1)
install(FILES ${SENDIT_MAN_DIR}/sendit.ini.5 DESTINATION ${CMAKE_INSTALL_MANDIR}/man5)
