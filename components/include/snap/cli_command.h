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
// Or typed, the arguments a described struct (the natural form: a misspelt name does not
// compile):
//
//   struct GetCustomerArgs {
//     std::string id;
//     std::optional<int> limit;  // optional: may be left out
//   };
//   BOOST_DESCRIBE_STRUCT(GetCustomerArgs, (), (id, limit))
//
//   app.add<snap::CliCommand>("get-customer", "Print a customer",
//                             snap::args_of<GetCustomerArgs>({{"id", "the customer's id"}, {"limit", "at most"}}),
//                             [](snap::PersonaContext&, const GetCustomerArgs& args) {
//                               std::cout << args.id << "\n";
//                               return 0;
//                             });
//
// Arguments are positional, in declaration order, or named: `--id 7` or `--id=7`, in any
// order among the positional ones (which fill the arguments not named). A wrong count,
// an unknown or repeated name, or a value of the wrong type is a UsageError (exit status
// 64) that prints the command's usage.
//
// Thread safety: a command's body runs on one thread; CommandArgs is a plain value.
#pragma once

#include <cstdint>
#include <type_traits>
#include <utility>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/describe.hpp>
#include <boost/mp11/algorithm.hpp>

#include "snap/persona.h"

namespace snap {

// One declared argument.
struct Arg {
  enum class Type { kText, kInteger, kNumber, kBoolean };
  std::string name;
  std::string help;
  Type type = Type::kText;
  std::optional<std::string> default_value;  // set: the argument may be left out
  bool optional = false;                     // may be left out, and is then absent (CommandArgs::has)

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
  // Whether an argument was given (or has a default): false only for an optional one left out.
  bool has(std::string_view name) const;

  // The arguments as a described struct (args_of<T>); a UsageError for an integer out of
  // its field's range.
  template <typename T>
  T as() const;

 private:
  friend class CliCommand;
  std::map<std::string, std::string, std::less<>> texts_;
  std::map<std::string, std::int64_t, std::less<>> integers_;
  std::map<std::string, double, std::less<>> numbers_;
  std::map<std::string, bool, std::less<>> booleans_;
};

// The arguments of a typed command: one per field of the described struct T, in
// declaration order, typed by the field (std::string: text; integers; float and double:
// number; bool: boolean; std::optional of those: may be left out), with the help given
// by field name. A help for a name that is no field is a std::invalid_argument.
template <typename T>
struct TypedArgs {
  std::vector<Arg> args;
};
template <typename T>
TypedArgs<T> args_of(const std::map<std::string, std::string>& help = {});

class CliCommand final : public Persona {
 public:
  using CommandBody = std::function<int(PersonaContext&, const CommandArgs&)>;
  CliCommand(const Init& init, std::string summary, std::vector<Arg> args, CommandBody body);
  // A typed command: `body` receives the arguments as a T.
  template <typename T>
  CliCommand(const Init& init, std::string summary, TypedArgs<T> args,
             std::type_identity_t<std::function<int(PersonaContext&, const T&)>> body)
      : CliCommand(init, std::move(summary), std::move(args.args),
                   [body = std::move(body)](PersonaContext& ctx, const CommandArgs& a) { return body(ctx, a.as<T>()); }) {}

  // "get-customer ID  Print a customer" plus a line per argument.
  std::string help() const override;
  boost::json::object config() const override;
  // Parses `words` against the declared arguments; throws UsageError with the usage.
  CommandArgs parse(const std::vector<std::string>& words) const;

 private:
  std::string summary_;
  std::vector<Arg> args_;
};

// ---- implementation ----

namespace cli_detail {
template <typename F>
constexpr Arg::Type arg_type() {
  if constexpr (std::is_same_v<F, bool>) {
    return Arg::Type::kBoolean;
  } else if constexpr (std::is_integral_v<F>) {
    return Arg::Type::kInteger;
  } else if constexpr (std::is_floating_point_v<F>) {
    return Arg::Type::kNumber;
  } else {
    static_assert(std::is_same_v<F, std::string>,
                  "snap::args_of: a command argument is a std::string, an integer, a number or a bool (or an "
                  "std::optional of one)");
    return Arg::Type::kText;
  }
}
template <typename F> struct optional_of { using type = F; static constexpr bool value = false; };
template <typename F> struct optional_of<std::optional<F>> { using type = F; static constexpr bool value = true; };
[[noreturn]] void integer_out_of_range(std::string_view name, std::int64_t value);
void check_help_names(const std::vector<Arg>& args, const std::map<std::string, std::string>& help);
}  // namespace cli_detail

template <typename T>
TypedArgs<T> args_of(const std::map<std::string, std::string>& help) {
  TypedArgs<T> out;
  boost::mp11::mp_for_each<boost::describe::describe_members<T, boost::describe::mod_public>>([&](auto member) {
    using Field = std::remove_cvref_t<decltype(std::declval<const T&>().*member.pointer)>;
    using Opt = cli_detail::optional_of<Field>;
    Arg a{member.name, "", cli_detail::arg_type<typename Opt::type>(), {}};
    a.optional = Opt::value;
    if (const auto it = help.find(member.name); it != help.end()) a.help = it->second;
    out.args.push_back(std::move(a));
  });
  cli_detail::check_help_names(out.args, help);
  return out;
}

template <typename T>
T CommandArgs::as() const {
  T out{};
  boost::mp11::mp_for_each<boost::describe::describe_members<T, boost::describe::mod_public>>([&](auto member) {
    using Field = std::remove_cvref_t<decltype(out.*member.pointer)>;
    using Opt = cli_detail::optional_of<Field>;
    using Value = typename Opt::type;
    if (!has(member.name)) return;  // an optional one left out: stays empty
    Value v{};
    if constexpr (std::is_same_v<Value, bool>) {
      v = boolean(member.name);
    } else if constexpr (std::is_integral_v<Value>) {
      const std::int64_t wide = integer(member.name);
      if (!std::in_range<Value>(wide)) cli_detail::integer_out_of_range(member.name, wide);
      v = static_cast<Value>(wide);
    } else if constexpr (std::is_floating_point_v<Value>) {
      v = static_cast<Value>(number(member.name));
    } else {
      v = text(member.name);
    }
    out.*member.pointer = std::move(v);
  });
  return out;
}

}  // namespace snap
