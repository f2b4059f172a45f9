# Prints `diff -u` of the sources of every pair of adjacent steps, as a learner would type it:
#   diff -u step2-namespaces/main.cpp step3-rootfs/main.cpp
# Run by the `step-diffs` target: cmake -D WORKSHOP_ROOT=<repository> -P print-step-diffs.cmake
if(NOT WORKSHOP_ROOT)
  message(FATAL_ERROR "print-step-diffs.cmake: set WORKSHOP_ROOT to the repository")
endif()
find_program(DIFF diff REQUIRED)

file(GLOB candidates LIST_DIRECTORIES true RELATIVE "${WORKSHOP_ROOT}" "${WORKSHOP_ROOT}/step[1-9]-*")
list(SORT candidates)
set(steps "")
foreach(name IN LISTS candidates)
  if(IS_DIRECTORY "${WORKSHOP_ROOT}/${name}")
    list(APPEND steps "${name}")
  endif()
endforeach()

# The sources of a step, main.cpp first.
function(step_sources step out)
  file(GLOB names RELATIVE "${WORKSHOP_ROOT}/${step}"
       "${WORKSHOP_ROOT}/${step}/*.cpp" "${WORKSHOP_ROOT}/${step}/*.hpp" "${WORKSHOP_ROOT}/${step}/*.h")
  list(SORT names)
  list(REMOVE_ITEM names main.cpp)
  set(${out} main.cpp ${names} PARENT_SCOPE)
endfunction()

set(previous "")
foreach(step IN LISTS steps)
  if(previous)
    step_sources(${previous} old)
    step_sources(${step} new)
    set(names ${old} ${new})
    list(REMOVE_DUPLICATES names)
    foreach(name IN LISTS names)
      set(a "${previous}/${name}")
      set(b "${step}/${name}")
      if(NOT EXISTS "${WORKSHOP_ROOT}/${a}" AND NOT EXISTS "${WORKSHOP_ROOT}/${b}")
        continue()
      endif()
      # -N: a file only one step has is compared with an empty one.
      execute_process(COMMAND "${CMAKE_COMMAND}" -E echo "\$ diff -u ${a} ${b}")
      execute_process(COMMAND "${DIFF}" -u -N --color=auto "${a}" "${b}"
                      WORKING_DIRECTORY "${WORKSHOP_ROOT}"
                      RESULT_VARIABLE status)
      if(status GREATER 1)
        message(FATAL_ERROR "diff -u ${a} ${b} failed (${status})")
      endif()
      execute_process(COMMAND "${CMAKE_COMMAND}" -E echo "")
    endforeach()
  endif()
  set(previous "${step}")
endforeach()
list(LENGTH steps count)
if(count LESS 2)
  message(STATUS "step-diffs: fewer than two steps, nothing to compare")
endif()
