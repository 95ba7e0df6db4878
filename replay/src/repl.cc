#include "repl.h"

#include <editline/readline.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <iostream>

#include "lifecycle_private.h"
#include "snap/persona.h"

namespace snap {

std::vector<std::string> split_command_line(std::string_view line) {
  std::vector<std::string> words;
  std::string word;
  bool in_word = false;
  char quote = 0;
  for (std::size_t i = 0; i < line.size(); ++i) {
    const char c = line[i];
    if (c == '\\' && i + 1 < line.size() && quote != '\'') {
      word += line[++i];
      in_word = true;
    } else if (quote != 0) {
      if (c == quote) {
        quote = 0;
      } else {
        word += c;
      }
    } else if (c == '"' || c == '\'') {
      quote = c;
      in_word = true;
    } else if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
      if (in_word) words.push_back(std::move(word));
      word.clear();
      in_word = false;
    } else {
      word += c;
      in_word = true;
    }
  }
  if (quote != 0) throw UsageError(std::string("unterminated ") + quote + " in the command line");
  if (in_word) words.push_back(std::move(word));
  return words;
}

namespace {

// One line of input, or nullopt at the end.
// Writes `text` in one write: the daemons print from threads of their own while the
// REPL runs, and a line written in pieces could be split by theirs.
void say(std::ostream& out, const std::string& text) { out << text << std::flush; }

std::optional<std::string> read_line(std::istream& in, std::ostream& out, bool interactive) {
  if (interactive) {
    char* raw = ::readline("snap> ");
    if (raw == nullptr) return std::nullopt;
    std::string line(raw);
    std::free(raw);
    if (!line.empty()) ::add_history(line.c_str());
    return line;
  }
  say(out, "snap> ");
  std::string line;
  if (!std::getline(in, line)) return std::nullopt;
  return line;
}

std::vector<const Persona*> commands_of(const App& app) {
  std::vector<const Persona*> out;
  for (const Persona* p : app.personas()) {
    if (p->persona_kind() == PersonaKind::kCommand) out.push_back(p);
  }
  return out;
}

}  // namespace

int run_repl(App& app, std::istream& in, std::ostream& out) {
  const bool interactive = &in == &std::cin && ::isatty(STDIN_FILENO) != 0;
  const auto commands = commands_of(app);
  int last = 0;
  while (auto line = read_line(in, out, interactive)) {
    std::vector<std::string> words;
    try {
      words = split_command_line(*line);
    } catch (const UsageError& e) {
      say(out, "error: " + std::string(e.what()) + "\n");
      last = kExitUsage;
      continue;
    }
    if (words.empty()) continue;
    const std::string name = words.front();
    if (name == "exit" || name == "quit") break;
    if (name == "help") {
      std::string help = "commands:\n";
      for (const Persona* c : commands) help += "  " + c->help() + "\n";
      say(out, help + "  help  this list\n  exit  stop the daemons and leave dev mode\n");
      continue;
    }
    const Persona* command = nullptr;
    try {
      command = app.find_persona(name);
    } catch (const std::invalid_argument& e) {
      say(out, "error: " + std::string(e.what()) + "\n");
      last = kExitUsage;
      continue;
    }
    if (command != nullptr && std::find(commands.begin(), commands.end(), command) == commands.end()) command = nullptr;
    if (command == nullptr) {
      say(out, "error: unknown command \"" + name + "\" (help lists them)\n");
      last = kExitUsage;
      continue;
    }
    PersonaContext context(app, *command, std::vector<std::string>(words.begin() + 1, words.end()));
    try {
      last = command->run(context);
    } catch (const std::exception& e) {
      last = exit_status_for(e);
      say(out, "error: " + std::string(e.what()) + "\n");
    }
    if (last != 0) say(out, "(exit status " + std::to_string(last) + ")\n");
  }
  return last;
}

}  // namespace snap
