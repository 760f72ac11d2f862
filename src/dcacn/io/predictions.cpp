#include "dcacn/io/predictions.h"

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <sstream>

#include "dcacn/util/error.h"
#include "dcacn/util/fs.h"

namespace dcacn {
namespace {

std::vector<int64_t> to_int_vector(const torch::Tensor& t) {
  torch::Tensor cpu = t.to(torch::kCPU, torch::kInt64).contiguous().view(-1);
  return std::vector<int64_t>(cpu.data_ptr<int64_t>(), cpu.data_ptr<int64_t>() + cpu.numel());
}

// Splits CSV text into records of fields (quotes, doubled quotes, CRLF and embedded newlines
// handled). `lines` receives the 1-based line number where each record starts.
std::vector<std::vector<std::string>> parse_csv(const std::string& text, const std::string& file,
                                                std::vector<int64_t>* lines) {
  std::vector<std::vector<std::string>> records;
  std::vector<std::string> record;
  std::string field;
  bool in_quotes = false, field_started = false;
  int64_t line = 1, record_line = 1;
  auto end_record = [&]() {
    if (!(record.empty() && field.empty() && !field_started)) {
      record.push_back(field);
      records.push_back(record);
      lines->push_back(record_line);
    }
    record.clear();
    field.clear();
    field_started = false;
  };
  for (size_t i = 0; i < text.size(); ++i) {
    const char ch = text[i];
    if (in_quotes) {
      if (ch == '"') {
        if (i + 1 < text.size() && text[i + 1] == '"') {
          field.push_back('"');
          ++i;
        } else {
          in_quotes = false;
        }
      } else {
        if (ch == '\n') ++line;
        field.push_back(ch);
      }
    } else if (ch == '"') {
      in_quotes = true;
      field_started = true;
    } else if (ch == ',') {
      record.push_back(field);
      field.clear();
      field_started = true;
    } else if (ch == '\n' || ch == '\r') {
      if (ch == '\r' && i + 1 < text.size() && text[i + 1] == '\n') ++i;
      end_record();
      ++line;
      record_line = line;
    } else {
      field.push_back(ch);
      field_started = true;
    }
  }
  DCACN_CHECK(!in_quotes, file, ": unterminated quoted field starting on line ", record_line);
  end_record();
  return records;
}

int64_t parse_int(const std::string& text, const std::string& file, int64_t line,
                  const std::string& column) {
  errno = 0;
  char* end = nullptr;
  const long long value = std::strtoll(text.c_str(), &end, 10);
  DCACN_CHECK(!text.empty() && end == text.c_str() + text.size() && errno == 0, file, " line ",
              line, ": ", column, " '", text, "' is not an integer");
  return value;
}

}  // namespace

std::string csv_escape(const std::string& field) {
  if (field.find_first_of(",\"\r\n") == std::string::npos) return field;
  std::string out = "\"";
  for (char ch : field) {
    if (ch == '"') out.push_back('"');
    out.push_back(ch);
  }
  out.push_back('"');
  return out;
}

std::string predictions_csv(const torch::Tensor& clusters, const torch::Tensor& labels,
                            const std::vector<std::string>& paths, const ExtraColumns& extra) {
  const std::vector<int64_t> c = to_int_vector(clusters);
  std::vector<int64_t> l;
  if (labels.defined()) l = to_int_vector(labels);
  TORCH_CHECK(l.empty() || l.size() == c.size(), "predictions_csv: ", c.size(), " clusters but ",
              l.size(), " labels");
  TORCH_CHECK(paths.empty() || paths.size() == c.size(), "predictions_csv: ", c.size(),
              " clusters but ", paths.size(), " paths");
  std::string out = "index";
  if (!paths.empty()) out += ",path";
  if (!l.empty()) out += ",label";
  out += ",cluster";
  for (const auto& name : extra.names) out += "," + name;
  out += '\n';
  out.reserve(out.size() + c.size() * (paths.empty() ? 16 : 80));
  for (size_t i = 0; i < c.size(); ++i) {
    out += std::to_string(i);
    if (!paths.empty()) out += "," + csv_escape(paths[i]);
    if (!l.empty()) out += "," + std::to_string(l[i]);
    out += "," + std::to_string(c[i]);
    if (extra.row) extra.row(static_cast<int64_t>(i), out);
    out += '\n';
  }
  return out;
}

void write_predictions_csv(const std::string& file, const torch::Tensor& clusters,
                           const torch::Tensor& labels, const std::vector<std::string>& paths,
                           const ExtraColumns& extra) {
  write_file_atomic(file, predictions_csv(clusters, labels, paths, extra));
}

Predictions read_predictions_csv(const std::string& file) {
  const std::vector<uint8_t> bytes = read_file_bytes(file);
  std::vector<int64_t> lines;
  const auto records = parse_csv(std::string(bytes.begin(), bytes.end()), file, &lines);
  DCACN_CHECK(!records.empty(), file,
              " is empty; expected a header line 'index[,path][,label],cluster'");
  const auto& header = records.front();
  auto column = [&](const std::string& name) -> int64_t {
    auto it = std::find(header.begin(), header.end(), name);
    return it == header.end() ? -1 : it - header.begin();
  };
  const int64_t index_col = column("index"), cluster_col = column("cluster"),
                label_col = column("label"), path_col = column("path");
  DCACN_CHECK(cluster_col >= 0, file,
              " has no 'cluster' column in its header (found: ", c10::Join(",", header),
              "); expected 'index[,path][,label],cluster'");
  Predictions out;
  out.has_labels = label_col >= 0;
  for (size_t r = 1; r < records.size(); ++r) {
    const auto& rec = records[r];
    DCACN_CHECK(rec.size() == header.size(), file, " line ", lines[r], " has ", rec.size(),
                " fields; the header has ", header.size());
    out.index.push_back(index_col >= 0 ? parse_int(rec[index_col], file, lines[r], "index")
                                       : static_cast<int64_t>(r - 1));
    out.cluster.push_back(parse_int(rec[cluster_col], file, lines[r], "cluster"));
    if (label_col >= 0) out.label.push_back(parse_int(rec[label_col], file, lines[r], "label"));
    if (path_col >= 0) out.path.push_back(rec[path_col]);
  }
  return out;
}

}  // namespace dcacn
