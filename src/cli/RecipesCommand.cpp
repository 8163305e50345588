// `leip recipes list|show` (and sweep, SweepCommand.cpp): the recipes of the recipes folder (the golden recipes, or
// $LEIP_RECIPES_DIR), each checked as `leip optimize` would read it.
#include "Commands.h"
#include "Recipe.h"

#include "leip/support/Error.h"

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <iostream>

namespace leip::cli {

namespace {

namespace fs = std::filesystem;

void listRecipes() {
  const fs::path dir = recipesDir();
  std::error_code ec;
  if (!fs::is_directory(dir, ec))
    throw BadInputError(dir.string() + ": no recipes folder here; set LEIP_RECIPES_DIR to one");
  std::vector<fs::path> files;
  for (const fs::directory_entry &entry : fs::directory_iterator(dir))
    if (entry.is_regular_file() && entry.path().extension() == ".json") files.push_back(entry.path());
  std::sort(files.begin(), files.end());
  size_t invalid = 0;
  for (const fs::path &file : files) {
    try {
      Recipe recipe = loadRecipe(file);
      std::printf("%-16s %s\n", recipe.name.c_str(), recipe.description.c_str());
    } catch (const BadInputError &e) {
      std::printf("%-16s (invalid: %s)\n", file.stem().string().c_str(), e.what());
      ++invalid;
    }
  }
  if (invalid)
    throw BadInputError(std::to_string(invalid) + " recipe" + (invalid == 1 ? "" : "s") + " of " + dir.string() +
                        " did not read (see above)");
}

/// The file as written, once it reads as a recipe.
void showRecipe(const std::string &nameOrPath) {
  const fs::path file = resolveRecipe(nameOrPath);
  loadRecipe(file);
  std::ifstream in(file);
  std::cout << in.rdbuf();
}

} // namespace

void addRecipesCommand(CLI::App &app) {
  CLI::App *recipes = app.add_subcommand(
      "recipes", "The recipes leip optimize takes by name: the golden recipes in the recipes folder (or "
                 "$LEIP_RECIPES_DIR)");
  recipes->require_subcommand(1);
  recipes->add_subcommand("list", "One line per recipe: its name and description")->callback(listRecipes);
  auto name = std::make_shared<std::string>();
  CLI::App *show = recipes->add_subcommand("show", "Print a recipe's JSON");
  show->add_option("NAME", *name, "A recipe name (leip recipes list) or a file path")->required();
  show->callback([name] { showRecipe(*name); });
  addSweepCommand(recipes);
}

} // namespace leip::cli
