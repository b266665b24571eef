package main

import (
	"reflect"
	"testing"
)

func TestColdRoundsTakeTurns(t *testing.T) {
	got := coldRounds([]string{"floor", "omc"}, map[string]int{"omc": 4, "floor": 4})
	want := [][]string{{"floor", "omc"}, {"omc", "floor"}, {"floor", "omc"}, {"omc", "floor"}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
}

func TestColdRoundsUnevenRuns(t *testing.T) {
	// Ansible has fewer cold runs than omc and the floor; an arm with none
	// (cold not wanted) never appears.
	got := coldRounds([]string{"ansible", "omc", "floor", "none"}, map[string]int{"omc": 3, "floor": 3, "ansible": 1})
	want := [][]string{{"ansible", "omc", "floor"}, {"omc", "floor"}, {"floor", "omc"}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	if got := coldRounds([]string{"omc"}, map[string]int{"omc": 0}); len(got) != 0 {
		t.Fatalf("no runs: got %v", got)
	}
}
