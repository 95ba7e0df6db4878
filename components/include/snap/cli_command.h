// CliCommand: a named command with typed arguments, run on demand. Deployed, the build
// writes DIR/bin/NAME, which runs the command in its own container (with only the secrets
// and networks it uses) and exits with its status; `APP run NAME ARGS...` runs it in a
// process; in `dev` the REPL runs it beside the daemons (`help` lists the commands).
//
//   app.add<snap::CliCommand>("get-customer", "Print a customer",
//                             std::vector{snap::Arg::text("id", "the customer's id")},
//                             [server](snap::PersonaContext& ctx, const snap::CommandArgs& args) {
//                               std::cout << server.get_customer(ctx, {args.text("id")}).name << "\n";
//                               return 0;
//                             })
//       .uses(server_component);
//
// Arguments are positional, in declaration order; a wrong count or a value of the wrong
// type is a UsageError (exit status 64) that prints the command's usage.
//
// Thread safety: a command's body runs on one thread; CommandArgs is a plain value.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "snap/persona.h"

namespace snap {

// One declared argument.
struct Arg {
  enum class Type { kText, kInteger, kNumber, kBoolean };
  std::string name;
  std::string help;
  Type type = Type::kText;
  std::optional<std::string> default_value;  // set: the argument may be left out

  static Arg text(std::string name, std::string help) { return {std::move(name), std::move(help), Type::kText, {}}; }
  static Arg integer(std::string name, std::string help) { return {std::move(name), std::move(help), Type::kInteger, {}}; }
  static Arg number(std::string name, std::string help) { return {std::move(name), std::move(help), Type::kNumber, {}}; }
  // true/false, yes/no, 1/0.
  static Arg boolean(std::string name, std::string help) { return {std::move(name), std::move(help), Type::kBoolean, {}}; }
  // The same argument, optional with this default (written as on the command line).
  Arg or_default(std::string value) && {
    default_value = std::move(value);
    return std::move(*this);
  }
};

// The parsed arguments of one run, by name. Each accessor throws std::invalid_argument
// for a name the command did not declare with that type.
class CommandArgs {
 public:
  const std::string& text(std::string_view name) const;
  std::int64_t integer(std::string_view name) const;
  double number(std::string_view name) const;
  bool boolean(std::string_view name) const;

 private:
  friend class CliCommand;
  std::map<std::string, std::string, std::less<>> texts_;
  std::map<std::string, std::int64_t, std::less<>> integers_;
  std::map<std::string, double, std::less<>> numbers_;
  std::map<std::string, bool, std::less<>> booleans_;
};

class CliCommand final : public Persona {
 public:
  using CommandBody = std::function<int(PersonaContext&, const CommandArgs&)>;
  CliCommand(const Init& init, std::string summary, std::vector<Arg> args, CommandBody body);

  // "get-customer ID  Print a customer" plus a line per argument.
  std::string help() const override;
  boost::json::object config() const override;
  // Parses `words` against the declared arguments; throws UsageError with the usage.
  CommandArgs parse(const std::vector<std::string>& words) const;

 private:
  std::string summary_;
  std::vector<Arg> args_;
};

}  // namespace snap
