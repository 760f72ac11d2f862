#pragma once
// Each subcommand registers its options on the app and returns the function that runs it.

#include <CLI/CLI.hpp>
#include <functional>

namespace dcacn::cli {

using CommandRunner = std::function<int()>;

CommandRunner register_kmeans(CLI::App& app);
CommandRunner register_score(CLI::App& app);
CommandRunner register_model_info(CLI::App& app);
CommandRunner register_augment_preview(CLI::App& app);
CommandRunner register_train(CLI::App& app);
CommandRunner register_cluster(CLI::App& app);
CommandRunner register_evaluate(CLI::App& app);
CommandRunner register_predict(CLI::App& app);
CommandRunner register_embed(CLI::App& app);
CommandRunner register_report(CLI::App& app);
CommandRunner register_serve(CLI::App& app);
CommandRunner register_export(CLI::App& app);

}  // namespace dcacn::cli
