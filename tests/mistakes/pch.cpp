// The translation unit that precompiles <CLI/CLI.hpp> once for every mistake's copy of a step
// (tests/mistakes/CMakeLists.txt): the header is all it includes.
