# Prints what each step adds to the one before (then the bonus to step 5), as `./workshop diff N`
# does: every file of the folder that differs, the chapters' markdown aside, a new file whole.
# Run by the `step-diffs` target: cmake -D WORKSHOP_ROOT=<repository> -P print-step-diffs.cmake
if(NOT WORKSHOP_ROOT)
  message(FATAL_ERROR "print-step-diffs.cmake: set WORKSHOP_ROOT to the repository")
endif()
find_program(DIFF diff REQUIRED)

file(GLOB folders LIST_DIRECTORIES true RELATIVE "${WORKSHOP_ROOT}" "${WORKSHOP_ROOT}/step[1-9]-*")
list(SORT folders)
if(IS_DIRECTORY "${WORKSHOP_ROOT}/bonus-oci")
  list(APPEND folders bonus-oci)
endif()
set(previous "")
foreach(folder IN LISTS folders)
  if(previous)
    execute_process(COMMAND "${CMAKE_COMMAND}" -E echo "\$ diff -ruN -x '*.md' ${previous} ${folder}")
    execute_process(COMMAND "${DIFF}" -ruN -x "*.md" --color=auto "${previous}" "${folder}"
                    WORKING_DIRECTORY "${WORKSHOP_ROOT}"
                    RESULT_VARIABLE status)
    if(status GREATER 1)
      message(FATAL_ERROR "diff -ruN ${previous} ${folder} failed (${status})")
    endif()
  endif()
  set(previous "${folder}")
endforeach()
