"""Reading a flat-file feed's processing report, in whatever language the marketplace writes it.

Amazon writes the report in the seller's marketplace language: `Error` is `Fehler` on
Amazon.de, `Erreur`, `Errore`, `エラー` elsewhere, and the column names change too. So nothing here
depends on an English word: the summary is its first two counts (records processed, records
successful), the result rows are those after the header whose first cell is a record number,
read by position (original-record-number, order-id, order-item-id, error-code, error-type,
error-message), and a row refuses its record unless its type is a known warning. The counts
must add up (processed = rows sent, processed − successful = records refused); when they do not,
or a row names no record (a file-level error), the report cannot be trusted and the caller
checks each order with Amazon instead.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# error-type words that only warn (the record was applied). Amazon does not publish the
# localised spellings for this feed: an unknown word counts as a refusal, and the summary's
# counts catch a warning we did not know.
WARNING_WORDS = {"warning", "warnung", "avertissement", "avviso", "advertencia", "aviso", "waarschuwing",
                 "varning", "ostrzeżenie", "uyarı", "警告", "注意"}
# error codes that say the cancellation reason code was refused (the simulator's; Amazon's is
# unconfirmed), besides the reason code itself appearing in the message
REASON_CODES = {"90004"}

@dataclass
class ProcessingReport:
    processed: int | None = None
    successful: int | None = None
    refusals: dict[int, dict[str, str]] = field(default_factory=dict)  # record number -> code, type, message
    warnings: dict[int, list[str]] = field(default_factory=dict)
    file_errors: list[str] = field(default_factory=list)  # rows that name no record

    def problems(self, rows_sent: int) -> list[str]:
        """Why this report cannot be taken as it stands ([] when it adds up)."""
        found = list(f"a row names no record: {message}" for message in self.file_errors)
        if self.processed is None or self.successful is None:
            found.append("the summary's record counts are missing")
            return found
        if self.processed != rows_sent:
            found.append(f"Amazon processed {self.processed} records, we sent {rows_sent}")
        if self.processed - self.successful != len(self.refusals):
            found.append(f"the summary counts {self.processed - self.successful} refused records, "
                         f"the report lists {len(self.refusals)}")
        if any(number < 1 or number > rows_sent for number in self.refusals):
            found.append("a refused record number is not one we sent")
        return found


def parse_processing_report(text: str) -> ProcessingReport:
    report = ProcessingReport()
    counts: list[int] = []
    header_seen = False
    for line in text.replace("\r\n", "\n").split("\n"):
        cells = line.split("\t")
        if not line.strip() or len(cells) < 2:
            continue  # blank, or the title
        first, last = cells[0].strip(), cells[-1].strip()
        if len(cells) < 5:
            if last.isdigit() and not first.isdigit() and len(counts) < 2 and not header_seen:
                counts.append(int(last))  # "\tNumber of records processed\t\t2", in any language
            continue
        if not first.isdigit():
            if first and not header_seen:
                header_seen = True  # the column names, in any language
            else:
                report.file_errors.append(" ".join(c.strip() for c in cells[3:] if c.strip()))
            continue
        cells += [""] * (6 - len(cells))
        code, kind, message = (c.strip() for c in cells[3:6])
        number = int(first)
        if kind.lower() in WARNING_WORDS:
            report.warnings.setdefault(number, []).append(message)
        else:
            report.refusals[number] = {"error_code": code, "error_type": kind, "error_message": message}
    if len(counts) >= 2:
        report.processed, report.successful = counts[0], counts[1]
    return report


def reason_refused(error: dict[str, str], reason: str) -> bool:
    """Whether Amazon refused the cancellation reason code (not the order): by its error code, or
    the code itself quoted in the message, which holds in any language."""
    return error.get("error_code") in REASON_CODES or reason in error.get("error_message", "")
