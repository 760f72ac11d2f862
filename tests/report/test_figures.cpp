#include <fstream>
#include <sstream>

#include "../test_util.h"
#include "dcacn/metrics/cluster_analysis.h"
#include "dcacn/report/figures.h"

namespace dcacn {
namespace {

std::string read_all(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

class FiguresTest : public test::TempDirTest {};

// The curves run on the run's minutes (a run shorter than an epoch still has a curve), and each
// stage's start is marked after the row before its first.
TEST_F(FiguresTest, CurvesAreOnTheRunsMinutesWithEachStagesStartMarked) {
  auto row = [](const char* seconds, const char* acc, const char* stage) {
    return std::map<std::string, std::string>{{"epoch", "0.100"},
                                              {"wall_seconds", seconds},
                                              {"acc", acc},
                                              {"nmi", "0.5"},
                                              {"ari", "0.4"},
                                              {"loss", "7.1"},
                                              {"instance_loss", "5"},
                                              {"cluster_loss", "2"},
                                              {"entropy_term", "0.1"},
                                              {"stage", stage}};
  };
  const MetricsRows rows = {row("60.0", "0.41", "1"), row("120.0", "0.52", "1"),
                            row("171.0", "0.61", "1"), row("210.0", "0.70", "3")};
  ReportWriter w(dir_);
  ASSERT_TRUE(plot_training_curves(w, rows));
  EXPECT_EQ(read_all(path("curves.dat")),
            "# minutes acc nmi ari\n1.000 0.41 0.5 0.4\n2.000 0.52 0.5 0.4\n"
            "2.850 0.61 0.5 0.4\n3.500 0.70 0.5 0.4\n");
  // The neighbour stage's row holds another objective: not on the loss curve.
  EXPECT_EQ(read_all(path("loss.dat")).find("3.500"), std::string::npos);
  const std::string script = read_all(path("curves.gp"));
  EXPECT_NE(script.find("set xlabel 'minutes of the run'"), std::string::npos) << script;
  EXPECT_NE(script.find("set arrow from 0, graph 0 to 0, graph 1"), std::string::npos) << script;
  EXPECT_NE(script.find("set arrow from 2.850, graph 0 to 2.850, graph 1"), std::string::npos)
      << script;
  EXPECT_NE(script.find("set label 'neighbours' at 2.850"), std::string::npos) << script;
  EXPECT_EQ(read_all(path("curves.png")).substr(1, 3), "PNG");
}

TEST_F(FiguresTest, TheKEstimateIsPlottedWithTheChosenKMarked) {
  auto row = [](const char* k, const char* stability, const char* chosen) {
    return std::map<std::string, std::string>{{"k", k},
                                              {"stability", stability},
                                              {"spread", "0.01"},
                                              {"reference", "0.5"},
                                              {"criterion", "0.3"},
                                              {"chosen", chosen}};
  };
  ReportWriter w(dir_);
  EXPECT_EQ(plot_k_estimate(w, {}).chosen, 0);  // K was not estimated: no figure
  EXPECT_TRUE(w.files().empty());
  const MetricsRows rows = {row("2", "0.80", "0"), row("3", "0.95", "1"), row("4", "0.70", "0")};
  const KEstimatePlot plotted = plot_k_estimate(w, rows);
  EXPECT_EQ(plotted.chosen, 3);
  EXPECT_FALSE(plotted.by_heads);
  EXPECT_EQ(read_all(path("k_estimate.dat")),
            "# k stability spread reference criterion\n2 0.80 0.01 0.5 0.3\n3 0.95 0.01 0.5 "
            "0.3\n4 0.70 0.01 0.5 0.3\n");
  const std::string script = read_all(path("k_estimate.gp"));
  EXPECT_NE(script.find("set arrow from 3, graph 0 to 3, graph 1"), std::string::npos) << script;
  EXPECT_NE(script.find("Number of clusters: K = 3"), std::string::npos) << script;
  EXPECT_EQ(read_all(path("k_estimate.png")).substr(1, 3), "PNG");
}

TEST_F(FiguresTest, TheHeadsKEstimateIsPlottedWithItsStandardErrors) {
  auto row = [](const char* k, const char* criterion, const char* chosen) {
    return std::map<std::string, std::string>{{"k", k},
                                              {"agreement", "0.9"},
                                              {"standard_error", "0.02"},
                                              {"reference", "0.6"},
                                              {"criterion", criterion},
                                              {"chosen", chosen}};
  };
  ReportWriter w(dir_);
  const MetricsRows rows = {row("2", "0.30", "0"), row("3", "0.41", "1"), row("4", "0.42", "0")};
  const KEstimatePlot plotted = plot_k_estimate(w, rows);
  EXPECT_EQ(plotted.chosen, 3);  // the file's chosen, not the largest criterion
  EXPECT_TRUE(plotted.by_heads);
  EXPECT_EQ(read_all(path("k_estimate.dat")),
            "# k agreement standard_error reference criterion\n2 0.9 0.02 0.6 0.30\n3 0.9 0.02 "
            "0.6 0.41\n4 0.9 0.02 0.6 0.42\n");
  const std::string script = read_all(path("k_estimate.gp"));
  EXPECT_NE(script.find("using 1:5:3 with yerrorlines"), std::string::npos) << script;
  EXPECT_NE(script.find("one-SE rule"), std::string::npos) << script;
  // A file of neither form names the columns it lacks.
  MetricsRows bad = rows;
  bad[1].erase("standard_error");
  test::expect_error_containing([&] { plot_k_estimate(w, bad); },
                                {"lacks the column standard_error", "k,agreement"});
}

// Two clusters of five classes (the upper-body garments at K = 2): the title is on two lines and
// the canvas is wide enough for its longer line (one line of it was cut at both ends at 456 px).
TEST_F(FiguresTest, AConfusionMatrixOfTwoClustersKeepsItsTitleWhole) {
  const torch::Tensor labels = torch::arange(10, torch::kLong) % 5;
  const torch::Tensor clusters = (labels >= 3).to(torch::kLong);
  const ClusterAnalysis a = analyze_clusters(clusters, 2, labels);
  ReportWriter w(dir_);
  plot_confusion(w, a, {"a", "b", "c", "d", "e"});
  const std::string script = read_all(path("confusion.gp"));
  EXPECT_NE(script.find("set title \"Confusion matrix\\n(columns: clusters"), std::string::npos)
      << script;
  EXPECT_NE(script.find("pngcairo size 480,420"), std::string::npos) << script;
  EXPECT_EQ(read_all(path("confusion.dat")), "2 0\n2 0\n2 0\n0 2\n0 2\n");
  EXPECT_EQ(read_all(path("confusion.png")).substr(1, 3), "PNG");
}

}  // namespace
}  // namespace dcacn
