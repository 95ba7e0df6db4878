// examples/customer as a definition (example_programs.h).
#include "example_programs.h"

#define main customer_example_main
#include "../../examples/customer/customer_app.cc"
#undef main

namespace snap::testing {
ExampleProgram customer_example() { return {"customer", define_app, {}}; }
}  // namespace snap::testing
