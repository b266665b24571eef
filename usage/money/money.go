// Package money is exact arithmetic for invoices: amounts are integer
// cents, prices and rates are decimals with up to six places held as
// integer millionths. No float ever touches money.
//
// Rounding rule (the only one): a line's amount is its exact quantity
// times its exact price, rounded once to the cent, half away from zero
// (commercial rounding: 0.005 → 0.01). VAT is the rounded net total times
// the rate, rounded the same way. Totals are sums of rounded cents, so
// every printed line adds up to the printed total.
package money

import (
	"errors"
	"fmt"
	"math/big"
	"strconv"
	"strings"
)

// Cents is an amount of money in hundredths of the currency unit.
type Cents int64

// String is the amount as a plain decimal, e.g. 1234 → "12.34".
func (c Cents) String() string {
	sign := ""
	v := int64(c)
	if v < 0 {
		sign, v = "-", -v
	}
	return fmt.Sprintf("%s%d.%02d", sign, v/100, v%100)
}

// Micro is a price or a rate in millionths: 0.002 → 2000, 19% → 190000.
type Micro int64

// MicroPerUnit is one whole unit in Micro.
const MicroPerUnit = 1_000_000

// String is the decimal with trailing zeros dropped (at least two places:
// prices read like money), e.g. 2000 → "0.002", 1500000 → "1.50".
func (m Micro) String() string {
	sign := ""
	v := int64(m)
	if v < 0 {
		sign, v = "-", -v
	}
	frac := fmt.Sprintf("%06d", v%MicroPerUnit)
	frac = strings.TrimRight(frac, "0")
	for len(frac) < 2 {
		frac += "0"
	}
	return fmt.Sprintf("%s%d.%s", sign, v/MicroPerUnit, frac)
}

// Percent is a rate as a percentage, e.g. 190000 → "19", 77000 → "7.7".
func (m Micro) Percent() string {
	v := int64(m) // percent in 1/10000
	s := fmt.Sprintf("%d.%04d", v/10000, v%10000)
	s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	return s
}

// ErrFormat is returned for text that is not a plain decimal.
var ErrFormat = errors.New("not a decimal number like 0.25")

// maxMicro bounds parsed values (one billion units) so that products
// stay far from overflow before big arithmetic takes over.
const maxMicro = 1_000_000_000 * MicroPerUnit

// ParseDecimal reads a non-negative plain decimal with at most six
// places ("0.002", "25", "1.5"). No exponents, signs, commas or spaces:
// a price is written as people write it.
func ParseDecimal(s string) (Micro, error) {
	whole, frac, dot := strings.Cut(s, ".")
	if whole == "" || (dot && frac == "") || strings.Trim(whole+frac, "0123456789") != "" {
		return 0, ErrFormat
	}
	if len(frac) > 6 {
		return 0, fmt.Errorf("at most 6 decimal places")
	}
	if len(whole) > 10 {
		return 0, fmt.Errorf("too large")
	}
	w, err := strconv.ParseInt(whole, 10, 64)
	if err != nil {
		return 0, ErrFormat
	}
	f := int64(0)
	if frac != "" {
		f, _ = strconv.ParseInt((frac + "000000")[:6], 10, 64)
	}
	v := w*MicroPerUnit + f
	if v > maxMicro {
		return 0, fmt.Errorf("too large")
	}
	return Micro(v), nil
}

// divRound is num/den rounded half away from zero (den > 0).
func divRound(num *big.Int, den *big.Int) int64 {
	q, r := new(big.Int), new(big.Int)
	q.QuoRem(num, den, r) // truncated toward zero
	r2 := new(big.Int).Abs(r)
	r2.Lsh(r2, 1)
	if r2.Cmp(den) >= 0 {
		if num.Sign() < 0 {
			q.Sub(q, big.NewInt(1))
		} else {
			q.Add(q, big.NewInt(1))
		}
	}
	return q.Int64()
}

// Amount is qty/per units at price each, rounded to the cent: per is 1
// for counted things (minutes, users) and e.g. 1e9 for bytes priced per
// GB.
func Amount(qty, per int64, price Micro) Cents {
	if per <= 0 {
		per = 1
	}
	num := new(big.Int).Mul(big.NewInt(qty), big.NewInt(int64(price)))
	// price is in millionths, the result in hundredths: divide by 10^4.
	den := new(big.Int).Mul(big.NewInt(per), big.NewInt(MicroPerUnit/100))
	return Cents(divRound(num, den))
}

// Rate is amount times rate (a fraction in millionths, e.g. VAT), rounded
// to the cent.
func Rate(amount Cents, rate Micro) Cents {
	num := new(big.Int).Mul(big.NewInt(int64(amount)), big.NewInt(int64(rate)))
	return Cents(divRound(num, big.NewInt(MicroPerUnit)))
}
