#include <chrono>

#include "../test_util.h"
#include "dcacn/report/report.h"
#include "dcacn/report/tsne.h"

namespace dcacn {
namespace {

// Below 10 images the report draws no t-SNE: only the other figures are expected.
TEST(ReportEstimate, WithoutATSNEOnlyTheOtherFiguresAreExpected) {
  EXPECT_DOUBLE_EQ(estimate_report_seconds(ReportOptions(), 9, 128), kReportFigureSeconds);
}

// The estimate's t-SNE part is of the order of a real t-SNE of that shape (timings: a wide
// band, the machine is shared with other tests).
TEST(ReportEstimate, TheTSNEPartIsOfTheOrderOfARealOne) {
  ReportOptions o;
  o.tsne_samples = 400;
  o.tsne_iterations = 300;
  const double estimate = estimate_report_seconds(o, 5000, 64) - kReportFigureSeconds;
  ASSERT_GT(estimate, 0);
  TSNEOptions t;
  t.iterations = o.tsne_iterations;
  t.exaggeration_iterations = 75;
  torch::manual_seed(3);
  const torch::Tensor x = torch::randn({o.tsne_samples, 64});
  const auto start = std::chrono::steady_clock::now();
  tsne(x, t);
  const double real =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_GT(estimate, real / 5) << "real " << real;
  EXPECT_LT(estimate, real * 5) << "real " << real;
}

}  // namespace
}  // namespace dcacn
