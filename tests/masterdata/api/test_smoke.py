def test_list_customers_scoped(api_a, customers):
    response = api_a.get("/api/v1/customers/")
    assert response.status_code == 200, response.content
    codes = {row["code"] for row in response.json()["results"]}
    assert codes == {"CA-1", "CA-2"}
