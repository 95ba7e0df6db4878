// The example programs (examples/) as definitions a test can start in-process: each
// example's source is compiled into the test with its main() renamed, so the test runs
// exactly the program users read.
#pragma once

#include <map>
#include <string>

#include "snap/lifecycle.h"

namespace snap::testing {

struct ExampleProgram {
  std::string name;                          // the app's name, as its main() passes it
  DefineApp define;                          // its define_app
  std::map<std::string, std::string> files;  // files its startup reads (path -> content)
};

ExampleProgram customer_example();
ExampleProgram hello_example();

}  // namespace snap::testing
