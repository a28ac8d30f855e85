package filter

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand"
	"strings"
	"testing"

	"github.com/pumacdc/puma/sdk"
	"github.com/pumacdc/puma/sdk/sdktest"
)

// The tables of the differential test. b has a's columns in another
// order, and some of them with another kind (the predicate is compiled
// for each table); c lacks some of them.
var (
	diffA = &sdktest.Table{DB: "shop", Name: "a", Columns: []sdk.Column{
		{Name: "i", Kind: sdk.KindInt},
		{Name: "u", Kind: sdk.KindUint},
		{Name: "f", Kind: sdk.KindFloat},
		{Name: "d", Kind: sdk.KindDouble},
		{Name: "dec", Kind: sdk.KindDecimal},
		{Name: "s", Kind: sdk.KindString},
		{Name: "y", Kind: sdk.KindYear},
		{Name: "bit", Kind: sdk.KindBit},
		{Name: "by", Kind: sdk.KindBytes},
		{Name: "e", Kind: sdk.KindEnum},
		{Name: "ts", Kind: sdk.KindDateTime},
		{Name: "weird name", Kind: sdk.KindInt},
	}}
	diffB = &sdktest.Table{DB: "shop", Name: "b", Columns: []sdk.Column{
		{Name: "s", Kind: sdk.KindString},
		{Name: "dec", Kind: sdk.KindDouble},
		{Name: "weird name", Kind: sdk.KindDecimal},
		{Name: "i", Kind: sdk.KindString},
		{Name: "ts", Kind: sdk.KindDateTime},
		{Name: "f", Kind: sdk.KindFloat},
		{Name: "u", Kind: sdk.KindInt},
		{Name: "by", Kind: sdk.KindBytes},
		{Name: "d", Kind: sdk.KindUint},
		{Name: "bit", Kind: sdk.KindBit},
		{Name: "y", Kind: sdk.KindYear},
		{Name: "e", Kind: sdk.KindEnum},
	}}
	diffC = &sdktest.Table{DB: "other", Name: "c", Columns: []sdk.Column{
		{Name: "d", Kind: sdk.KindDouble},
		{Name: "i", Kind: sdk.KindInt},
		{Name: "s", Kind: sdk.KindDecimal},
	}}
	diffTables = []*sdktest.Table{diffA, diffB, diffC}
	diffNames  = []string{"i", "u", "f", "d", "dec", "s", "y", "bit", "by", "e", "ts", "weird name", "missing"}
)

var (
	diffInts = []int64{0, 1, -1, 2, 5, 9, 10, 11, 99, 100, 101, 1234, -1234, 1999, 2024,
		math.MaxInt64, math.MaxInt64 - 1, math.MinInt64, math.MinInt64 + 1, 1 << 53, 1<<53 + 1, 999999999999999999, 16777217}
	diffUints  = []uint64{0, 1, 2, 5, 10, 100, 1234, 1 << 63, 1<<63 - 1, 1<<63 + 1, math.MaxUint64, math.MaxUint64 - 1, 16777217}
	diffFloats = []float64{0, math.Copysign(0, -1), 0.1, 0.2, 0.30000000000000004, 0.3, 0.5, -0.5, 1, 1.5, 2.5, -2.5, 10, 10.5, 100,
		1234.56, 1e15, 1e16, 1e21, 1e300, -1e300, 5e-324, 1e-7, 123456789.125, 16777216, 16777217, 16777218,
		math.MaxFloat64, -math.MaxFloat64, math.MaxFloat32, math.SmallestNonzeroFloat32, 3.4028235677973366e38, 9.223372036854775807e18,
		float64(float32(0.1)), float64(float32(0.2)), float64(float32(1234.56)), float64(float32(2.5)),
		math.NaN(), math.Inf(1), math.Inf(-1)}
	diffTexts = []string{"", "0", "-0", "-0.00", "+0", "0.0", "1", "10", "10.5", "10.50", "100", "1234.56", "-1234.56", "00012.3400",
		"+.5", ".5", "5.", "-.5", ".", "-", "+", "1e3", "1.2.3", " 12 ", "\t10\n", "\u00a010", "10\u2003", "abc", "live", "test", "Z", "a", "é",
		"it's", "\x00", "99999999999999999999.99", "123456789012345678901234567890.5", "9223372036854775807", "9223372036854775808",
		"-9223372036854775809", "18446744073709551616", "0.000000000000000000001", "12345678", "123456789", "1234567.8", "-1234567",
		"2024-01-02 03:04:05", "2024-01-02", "1-2", "--1", "+-1", "0x10", "1_000", "٣", "5°", "1\xb5", "²"}
)

// diffValue returns a random value for a column of kind k, NULL or absent.
func diffValue(r *rand.Rand, k sdk.Kind) any {
	switch r.Intn(12) {
	case 0:
		return nil
	case 1:
		return sdktest.Absent
	}
	switch k {
	case sdk.KindInt, sdk.KindYear:
		if r.Intn(4) == 0 {
			return r.Int63() - r.Int63()
		}
		return diffInts[r.Intn(len(diffInts))]
	case sdk.KindUint, sdk.KindBit:
		if r.Intn(4) == 0 {
			return r.Uint64()
		}
		return diffUints[r.Intn(len(diffUints))]
	case sdk.KindFloat, sdk.KindDouble:
		var f float64
		switch r.Intn(4) {
		case 0:
			f = (r.Float64() - 0.5) * math.Pow(10, float64(r.Intn(40)-20))
		case 1:
			f = float64(r.Intn(2001)-1000) / 8
		default:
			f = diffFloats[r.Intn(len(diffFloats))]
		}
		if k == sdk.KindFloat && r.Intn(4) != 0 {
			f = float64(float32(f)) // as the engine sends them, mostly
		}
		return f
	case sdk.KindBytes:
		return []byte(diffTexts[r.Intn(len(diffTexts))])
	}
	if r.Intn(4) == 0 {
		return fmt.Sprintf("%d.%02d", r.Intn(20001)-10000, r.Intn(100))
	}
	return diffTexts[r.Intn(len(diffTexts))]
}

var diffLiterals = []string{
	"0", "-0", "0.0", "1", "-1", "2", "5", "9.99", "10", "10.5", "10.50", "-10.5", "100", "100.00", "1234.56", "1234.560", "0.1", "0.2", "0.3",
	"0.30000000000000004", "0.5", "2.5", "-2.5", ".5", "5.", "-.5", "1999", "2024", "16777216", "16777217", "123456789.125",
	"9223372036854775807", "9223372036854775806.5", "9223372036854775807.5", "9223372036854775808", "-9223372036854775808",
	"-9223372036854775808.5", "-9223372036854775809", "18446744073709551615", "18446744073709551615.5", "18446744073709551616",
	"123456789012345678901234567890.5", "340282346638528859811704183484516925440", "340282356779733661637539395458142568448",
	"179769313486231570814527423731704356798070567525844996598917476803157260780028538760589558632766878171540458953514382464234321326889464182768467546703537516986049910576551282076245490090389328944075868508455133942304583236903222948165808559332123348274797826204144723168738177180919299881250404026184124858368",
	"0.000001", "0.0000001", "0.100000001490116119384765625", "0.10000000149011612", "1234.56005859375", "99999999999999999999.99", "0.000000000000000000001", "1000000000000000000000",
	"'live'", "'test'", "''", "'10'", "' 10 '", "'-0.0'", "'1234.56'", "'a'", "'Z'", "'it''s'", "'é'", "'abc'", "'2024-01-02'", "'+.5'",
	"NULL",
}

func diffLiteral(r *rand.Rand) string { return diffLiterals[r.Intn(len(diffLiterals))] }

func diffColumn(r *rand.Rand) string {
	c := diffNames[r.Intn(len(diffNames))]
	if strings.Contains(c, " ") || r.Intn(8) == 0 {
		return "`" + c + "`"
	}
	return c
}

// diffPredicate returns a random where predicate.
func diffPredicate(r *rand.Rand, depth int) string {
	if depth > 0 && r.Intn(3) != 0 {
		switch r.Intn(5) {
		case 0, 1:
			return diffPredicate(r, depth-1) + " AND " + diffPredicate(r, depth-1)
		case 2, 3:
			return "(" + diffPredicate(r, depth-1) + " OR " + diffPredicate(r, depth-1) + ")"
		default:
			return "NOT (" + diffPredicate(r, depth-1) + ")"
		}
	}
	col := diffColumn(r)
	switch r.Intn(8) {
	case 0:
		return col + " IS NULL"
	case 1:
		return col + " IS NOT NULL"
	case 2, 3:
		lits := make([]string, 1+r.Intn(4))
		for i := range lits {
			lits[i] = diffLiteral(r)
		}
		not := ""
		if r.Intn(2) == 0 {
			not = "NOT "
		}
		return col + " " + not + "IN (" + strings.Join(lits, ", ") + ")"
	}
	ops := []string{"=", "!=", "<>", "<", "<=", ">", ">="}
	return col + " " + ops[r.Intn(len(ops))] + " " + diffLiteral(r)
}

func diffChange(r *rand.Rand) sdktest.Change {
	t := diffTables[r.Intn(len(diffTables))]
	img := func() []any {
		vals := make([]any, len(t.Columns))
		for i, c := range t.Columns {
			vals[i] = diffValue(r, c.Kind)
		}
		return vals
	}
	switch r.Intn(4) {
	case 0:
		return sdktest.Update(t, img(), img())
	case 1:
		return sdktest.Delete(t, img()...)
	}
	return sdktest.Insert(t, img()...)
}

// differ runs batches of changes through the filter with config cfg and
// through the reference filter, and returns the changes on which they
// disagree, described.
type differ struct {
	ref  *refFilter
	want []bool
	kept int
	rows int
}

func newDiffer(t *testing.T) *differ {
	d := &differ{}
	p := Plugin()
	handle := p.Handler
	p.Handler = func(r *sdk.Row) sdk.Verdict {
		d.want = append(d.want, d.ref.keep(r))
		return handle(r)
	}
	sdk.Register(p)
	t.Cleanup(func() { sdk.Register(Plugin()) })
	return d
}

func (d *differ) init(t *testing.T, cfg config) string {
	t.Helper()
	raw, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := sdktest.Init(string(raw)); err != nil {
		t.Fatalf("config %s: %v", raw, err)
	}
	d.ref = newRefFilter(cfg)
	return string(raw)
}

func (d *differ) handle(t *testing.T, changes []sdktest.Change) (diffs []string) {
	t.Helper()
	d.want = d.want[:0]
	res, err := sdktest.Handle(changes...)
	if err != nil {
		t.Fatal(err)
	}
	for i, rs := range res {
		d.rows++
		if d.want[i] {
			d.kept++
		}
		if got := rs.Verdict == "keep"; got != d.want[i] {
			c := changes[i]
			img := c.After
			if c.Op == sdk.OpDelete {
				img = c.Before
			}
			diffs = append(diffs, fmt.Sprintf("table %s op %c row %v: keep = %v, reference %v", c.Table.Name, c.Op, img, got, d.want[i]))
		}
	}
	return diffs
}

// check fails unless both verdicts were common, for the test to say much.
func (d *differ) check(t *testing.T) {
	t.Helper()
	if d.kept < d.rows/10 || d.kept > d.rows*9/10 {
		t.Fatalf("%d rows of %d kept", d.kept, d.rows)
	}
	t.Logf("%d rows of %d kept", d.kept, d.rows)
}

// TestDifferential evaluates random predicates over random rows of
// tables that share column names in different orders and kinds, with the
// compiled filter and with the reference one, which must agree.
func TestDifferential(t *testing.T) {
	d := newDiffer(t)
	rounds := 3000
	if testing.Short() {
		rounds = 300
	}
	r := rand.New(rand.NewSource(7))
	disagree := 0
	for range rounds {
		cfg := config{Where: diffPredicate(r, 3)}
		if r.Intn(4) == 0 {
			cfg.Include = []string{"shop.*"}
		}
		if r.Intn(8) == 0 {
			cfg.Exclude = []string{"*.b"}
		}
		if r.Intn(4) == 0 {
			cfg.Ops = []string{"c", "d"}
		}
		raw := d.init(t, cfg)
		for range 3 { // the tables' states live across batches
			changes := make([]sdktest.Change, 20)
			for i := range changes {
				changes[i] = diffChange(r)
			}
			for _, msg := range d.handle(t, changes) {
				if disagree++; disagree <= 20 {
					t.Errorf("config %s\n%s", raw, msg)
				}
			}
		}
	}
	if disagree > 0 {
		t.Fatalf("%d disagreements", disagree)
	}
	d.check(t)
}

// TestDifferentialComparisons evaluates every comparison of every column
// name with every literal over the same random rows, with the compiled
// filter and with the reference one, which must agree.
func TestDifferentialComparisons(t *testing.T) {
	d := newDiffer(t)
	r := rand.New(rand.NewSource(8))
	changes := make([]sdktest.Change, 60)
	for i := range changes {
		changes[i] = diffChange(r)
	}
	disagree := 0
	for _, col := range diffNames {
		col = "`" + col + "`"
		var wheres []string
		for _, lit := range diffLiterals {
			for _, op := range []string{"=", "!=", "<", "<=", ">", ">="} {
				wheres = append(wheres, col+" "+op+" "+lit, "NOT "+col+" "+op+" "+lit)
			}
			other := diffLiterals[r.Intn(len(diffLiterals))]
			wheres = append(wheres, col+" IN ("+lit+", "+other+")", col+" NOT IN ("+lit+", "+other+")")
		}
		wheres = append(wheres, col+" IS NULL", col+" IS NOT NULL")
		for _, where := range wheres {
			raw := d.init(t, config{Where: where})
			for _, msg := range d.handle(t, changes) {
				if disagree++; disagree <= 20 {
					t.Errorf("config %s\n%s", raw, msg)
				}
			}
		}
	}
	if disagree > 0 {
		t.Fatalf("%d disagreements", disagree)
	}
	d.check(t)
}
