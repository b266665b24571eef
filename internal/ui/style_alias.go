package ui

import "github.com/charmbracelet/lipgloss"

type lipglossStyle = lipgloss.Style

func statusStyle(st Styles, status string) lipgloss.Style {
	switch status {
	case "ok":
		return st.OK
	case "failed":
		return st.Failed
	}
	return st.Changed
}
