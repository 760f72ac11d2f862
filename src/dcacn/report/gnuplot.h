#pragma once
// Plots are drawn by gnuplot (Debian's gnuplot-nox, pngcairo terminal): dcacn writes the data
// and a script next to the PNG, so that a figure can be restyled and redrawn by hand.

#include <string>

namespace dcacn {

/// Writes `script` to `script_path` and runs gnuplot on it from that file's folder. Throws
/// InputError with gnuplot's own message when it fails, or with the package to install when
/// gnuplot is missing.
void run_gnuplot(const std::string& script_path, const std::string& script);

/// Text for a gnuplot string literal: in single quotes, with single quotes doubled.
std::string gnuplot_quote(const std::string& text);

}  // namespace dcacn
