//! Documentation that must follow the code.

#[test]
fn every_problem_type_is_documented() {
    let doc = include_str!("../../docs/problems.md");
    for p in shared::http::ProblemType::ALL {
        let row = format!("| `{}` | {} |", p.slug(), p.status().as_u16());
        assert!(doc.contains(&row), "docs/problems.md lacks the row {row}");
    }
}
