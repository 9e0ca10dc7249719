# ctest driver for the mqtt-packet cross-check (cmake -P). Variables: NODE, SCRIPT (the .js),
# TOOL (codec_crosscheck binary), WORK (scratch directory).
#   1. mqtt-packet generates packets of every type (3.1, 3.1.1, 5.0)  -> vectors.jsonl
#   2. Wisp decodes them and compares fields; re-encodes each          -> wisp.jsonl
#   3. mqtt-packet parses Wisp's encodings and compares fields
file(MAKE_DIRECTORY "${WORK}")
foreach(step
    "${NODE};${SCRIPT};generate;${WORK}/vectors.jsonl"
    "${TOOL};${WORK}/vectors.jsonl;${WORK}/wisp.jsonl"
    "${NODE};${SCRIPT};verify;${WORK}/wisp.jsonl")
  execute_process(COMMAND ${step} RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "codec cross-check step failed (${rc}): ${step}")
  endif()
endforeach()
