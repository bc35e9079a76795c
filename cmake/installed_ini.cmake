# cmake -DIN=etc/sendit.ini -DOUT=... -DSTATE=... -DLOGS=... -DCONFIG=... -P:
# writes the installed configuration: etc/sendit.ini with each relative path
# made absolute (state under STATE, the log folder LOGS, the pidfile with the state)
# and the opening comment saying where the file is read from.
file(READ "${IN}" text)
set(pairs
    "./storage/.work=${STATE}/storage/.work" "./storage=${STATE}/storage"
    "./data=${STATE}/data" "./quarantine=${STATE}/quarantine" "./sendit.db=${STATE}/sendit.db"
    "./logs=${LOGS}" "./sendit.pid=${STATE}/sendit.pid" "./sendit.passwd=${STATE}/sendit.passwd"
    "./deid=${STATE}/deid" "./sendit.deid.key=${STATE}/sendit.deid.key")
foreach(pair ${pairs})
  string(REPLACE "=" ";" kv "${pair}")
  list(GET kv 0 from)
  list(GET kv 1 to)
  string(REGEX REPLACE "\n([a-z_]+) = ${from}\n" "\n\\1 = ${to}\n" text "${text}")
endforeach()
string(REGEX MATCH "\n(folder|url|logs|pidfile|password_file|key_file) = \\./[^\n]*" left "${text}")
if(left)
  message(FATAL_ERROR "installed_ini.cmake: a relative path is left in ${IN}:${left}")
endif()
string(REGEX REPLACE "^; sendit example configuration[^\n]*\n;[^\n]*\n;[^\n]*\n"
       "; sendit's installed configuration, read when there is no ./sendit.ini and no\n\
; --config (the systemd units name it). Every key is listed: the paths point at\n\
; the installed folders (${STATE} and\n\
; ${LOGS}),\n\
; the other values are the built-in defaults. After an edit, check it with\n\
; `sendit config` and restart the service.\n"
       text "${text}")
if(NOT text MATCHES "^; sendit's installed configuration")
  message(FATAL_ERROR "installed_ini.cmake: the opening comment of ${IN} changed")
endif()
file(WRITE "${OUT}" "${text}")
