# Builds the solution of an exercise whose solution no step holds, as a learner would: a copy of
# the step's folder, the exercise's patch applied to it, then the standalone build of that copy.
# Run by exercises/CMakeLists.txt at build time:
#   cmake -D STEP_DIR=... -D PATCH_FILE=... -D WORK_DIR=... -D PATCH_PROGRAM=...
#         -D CXX_COMPILER=... -D BUILD_TYPE=... -D ROOTFS=... -P build-solution.cmake
# A patch that no longer applies stops the build here, saying which and what to do.
foreach(variable IN ITEMS STEP_DIR PATCH_FILE WORK_DIR PATCH_PROGRAM CXX_COMPILER ROOTFS)
  if(NOT ${variable})
    message(FATAL_ERROR "build-solution.cmake: ${variable} is not set")
  endif()
endforeach()

get_filename_component(step "${STEP_DIR}" NAME)
file(REMOVE_RECURSE "${WORK_DIR}/${step}")
file(COPY "${STEP_DIR}/" DESTINATION "${WORK_DIR}/${step}" PATTERN "build" EXCLUDE)

# --forward: a patch that looks applied already is an error too, not a silent reversal.
execute_process(
  COMMAND "${PATCH_PROGRAM}" -p1 --batch --forward --no-backup-if-mismatch --reject-file=- -i "${PATCH_FILE}"
  WORKING_DIRECTORY "${WORK_DIR}/${step}"
  RESULT_VARIABLE status
  OUTPUT_VARIABLE output
  ERROR_VARIABLE output)
if(NOT status EQUAL 0)
  message(FATAL_ERROR
    "${PATCH_FILE} no longer applies to ${step}/:\n${output}\n"
    "The step changed where the patch anchors. Update the patch: copy ${step}/ twice, make the "
    "change in one copy, and write the patch with `diff -u` (see exercises/README.md).")
endif()

execute_process(
  COMMAND "${CMAKE_COMMAND}" -S "${WORK_DIR}/${step}" -B "${WORK_DIR}/build"
          "-DCMAKE_CXX_COMPILER=${CXX_COMPILER}" "-DCMAKE_BUILD_TYPE=${BUILD_TYPE}" "-DWORKSHOP_ROOTFS=${ROOTFS}"
  COMMAND_ERROR_IS_FATAL ANY
  OUTPUT_QUIET)
# A make of its own, not a part of the outer make's job server (two sources: two jobs).
unset(ENV{MAKEFLAGS})
unset(ENV{MFLAGS})
execute_process(COMMAND "${CMAKE_COMMAND}" --build "${WORK_DIR}/build" --parallel 2 COMMAND_ERROR_IS_FATAL ANY)
