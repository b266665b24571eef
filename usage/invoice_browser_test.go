package usage

import (
	"bytes"
	"context"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/omc-coop/omc/internal/testenv"
)

// TestInvoiceInChromium prints the reverse-charge invoice to PDF in a
// real headless browser (Debian's chromium) and reads the text back with
// pdftotext: one A4 page carrying both VAT IDs, the bank details, the
// payment terms and the reverse-charge wording, so nothing is cut off or
// pushed to a second page.
func TestInvoiceInChromium(t *testing.T) {
	bin, err := exec.LookPath("chromium")
	if err != nil {
		testenv.Missing(t, "needs chromium (apt-get install chromium) to print the invoice")
	}
	pdftotext, err := exec.LookPath("pdftotext")
	if err != nil {
		testenv.Missing(t, "needs pdftotext (apt-get install poppler-utils) to read the printed invoice")
	}
	rep, pl, _ := scriptedReport(t)
	var uni *Invoice
	invs := Invoices(rep, pl, time.Date(2026, 12, 3, 0, 0, 0, 0, time.UTC))
	for i := range invs {
		if invs[i].Tenant == "uni" {
			uni = &invs[i]
		}
	}
	if uni == nil {
		t.Fatal("no invoice for uni")
	}
	dir := t.TempDir()
	paths, err := WriteInvoices(dir, rep.Month, []Invoice{*uni})
	if err != nil {
		t.Fatal(err)
	}
	page := filepath.Join(dir, "invoice-"+uni.Number+".html")
	if paths[1] != page {
		t.Fatalf("wrote %v", paths)
	}
	run := func(name string, args ...string) []byte {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, name, args...)
		cmd.Env = append(os.Environ(), "HOME="+dir)
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := cmd.Run(); err != nil {
			t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, stderr.String())
		}
		return stdout.Bytes()
	}
	browser := []string{"--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-extensions",
		"--user-data-dir=" + filepath.Join(dir, "profile")}

	pdf := filepath.Join(dir, "invoice.pdf")
	run(bin, append(browser, "--no-pdf-header-footer", "--print-to-pdf="+pdf, "file://"+page)...)
	b, err := os.ReadFile(pdf)
	if err != nil || !bytes.HasPrefix(b, []byte("%PDF-")) {
		t.Fatalf("no PDF: %v (%d bytes)", err, len(b))
	}
	text := string(run(pdftotext, "-layout", pdf, "-"))
	if n := strings.Count(text, "\f"); n != 1 {
		t.Errorf("the invoice prints on %d pages, want 1:\n%s", n, text)
	}
	flat := strings.Join(strings.Fields(text), " ")
	for _, want := range []string{
		"Invoice 2026-11-uni", "Issue date 2026-12-03", "Due date 2026-12-17",
		"VAT ID DE123456789", "VAT ID FR12345678901",
		"DE89 3704 0044 0532 0130 00", "COBADEFFXXX", "Coop Video eG",
		"VAT 0% (reverse charge)", ReverseChargeNote,
		"Payable within 14 days of the issue date, by 2026-12-17",
	} {
		if !strings.Contains(flat, want) {
			t.Errorf("the printed invoice lacks %q:\n%s", want, text)
		}
	}

	// The page on screen: a real picture, A4-ish width.
	shot := filepath.Join(dir, "invoice.png")
	run(bin, append(browser, "--window-size=900,1200", "--screenshot="+shot, "file://"+page)...)
	f, err := os.Open(shot)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil || img.Bounds().Dx() != 900 {
		t.Fatalf("screenshot: %v %v", err, img)
	}
}
