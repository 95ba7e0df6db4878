// examples/hello as a definition (example_programs.h).
#include "example_programs.h"

#define main hello_example_main
#include "../../examples/hello/hello_app.cc"
#undef main

namespace snap::testing {
ExampleProgram hello_example() { return {"hello", define_hello, {{HELLO_GREETING_FILE, "Hello\n"}}}; }
}  // namespace snap::testing
