package money

import "testing"

func TestParseDecimal(t *testing.T) {
	good := map[string]Micro{"0": 0, "25": 25_000_000, "0.002": 2000, "1.5": 1_500_000, "0.19": 190_000, "0.000001": 1, "007.10": 7_100_000}
	for in, want := range good {
		if got, err := ParseDecimal(in); err != nil || got != want {
			t.Errorf("ParseDecimal(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", ".5", "5.", "-1", "+1", "1e3", "1,5", " 1", "0.0000001", "1.2.3", "12345678901"} {
		if _, err := ParseDecimal(in); err == nil {
			t.Errorf("ParseDecimal(%q) accepted", in)
		}
	}
}

func TestAmountRoundsHalfUpOnce(t *testing.T) {
	tests := []struct {
		qty, per int64
		price    Micro
		want     Cents
	}{
		{1000, 1, 2000, 200},                     // 1000 min at 0.002 = 2.00
		{1, 1, 5000, 1},                          // 0.005 → 0.01 (half up)
		{1, 1, 4999, 0},                          // 0.004999 → 0.00
		{3, 1, 1667, 1},                          // 0.005001 → 0.01
		{7, 1, 1_500_000, 1050},                  // 7 peak users at 1.50
		{2_500_000_000, 1e9, 100_000, 25},        // 2.5 GB at 0.10 = 0.25
		{1_250_000_000, 1e9, 20_000, 3},          // 0.025 → 0.03
		{1 << 40, 1, 1_000_000_000, 0},           // must not overflow: checked below
		{123456789, 1, 123, 1518519},             // 15185.185047 → 15185.19
		{10_000_000_000_000, 1e9, 50_000, 50000}, // 10 TB at 0.05/GB = 500.00
	}
	for _, tt := range tests {
		got := Amount(tt.qty, tt.per, tt.price)
		if tt.qty == 1<<40 {
			if got <= 0 {
				t.Errorf("overflow: %d", got)
			}
			continue
		}
		if got != tt.want {
			t.Errorf("Amount(%d, %d, %s) = %s, want %s", tt.qty, tt.per, tt.price, got, tt.want)
		}
	}
}

func TestRateAndStrings(t *testing.T) {
	if got := Rate(1050, 190_000); got != 200 { // 10.50 × 19% = 1.995 → 2.00
		t.Errorf("Rate = %s", got)
	}
	if got := Rate(1, 190_000); got != 0 {
		t.Errorf("Rate small = %s", got)
	}
	if s := Cents(123456).String(); s != "1234.56" {
		t.Error(s)
	}
	if s := Cents(-5).String(); s != "-0.05" {
		t.Error(s)
	}
	if s := Micro(2000).String(); s != "0.002" {
		t.Error(s)
	}
	if s := Micro(1_500_000).String(); s != "1.50" {
		t.Error(s)
	}
	if s := Micro(190_000).Percent(); s != "19" {
		t.Error(s)
	}
	if s := Micro(77_000).Percent(); s != "7.7" {
		t.Error(s)
	}
}
